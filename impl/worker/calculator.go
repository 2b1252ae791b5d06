package worker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Calculate evaluates an arithmetic expression: numbers, + - * /, unary minus and
// parentheses. It is the builtin `calculator` tool.
func Calculate(expr string) (float64, error) {
	p := &calcParser{s: strings.TrimSpace(expr)}
	if p.s == "" {
		return 0, errors.New("empty expression")
	}
	if len(p.s) > 1024 {
		return 0, errors.New("expression longer than 1024 characters")
	}
	v, err := p.expr(0)
	if err != nil {
		return 0, err
	}
	p.space()
	if p.i != len(p.s) {
		return 0, fmt.Errorf("unexpected %q at position %d", p.s[p.i:], p.i)
	}
	return v, nil
}

type calcParser struct {
	s string
	i int
}

func (p *calcParser) space() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

func (p *calcParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// expr parses sums; depth bounds nesting.
func (p *calcParser) expr(depth int) (float64, error) {
	if depth > 64 {
		return 0, errors.New("expression nested too deeply")
	}
	v, err := p.term(depth)
	if err != nil {
		return 0, err
	}
	for {
		switch p.peek() {
		case '+', '-':
			op := p.s[p.i]
			p.i++
			r, err := p.term(depth)
			if err != nil {
				return 0, err
			}
			if op == '+' {
				v += r
			} else {
				v -= r
			}
		default:
			return v, nil
		}
	}
}

func (p *calcParser) term(depth int) (float64, error) {
	v, err := p.factor(depth)
	if err != nil {
		return 0, err
	}
	for {
		switch p.peek() {
		case '*', '/':
			op := p.s[p.i]
			p.i++
			r, err := p.factor(depth)
			if err != nil {
				return 0, err
			}
			if op == '*' {
				v *= r
			} else {
				if r == 0 {
					return 0, errors.New("division by zero")
				}
				v /= r
			}
		default:
			return v, nil
		}
	}
}

func (p *calcParser) factor(depth int) (float64, error) {
	switch c := p.peek(); {
	case c == '-':
		p.i++
		v, err := p.factor(depth + 1)
		return -v, err
	case c == '(':
		p.i++
		v, err := p.expr(depth + 1)
		if err != nil {
			return 0, err
		}
		if p.peek() != ')' {
			return 0, fmt.Errorf("missing ) at position %d", p.i)
		}
		p.i++
		return v, nil
	case c >= '0' && c <= '9' || c == '.':
		start := p.i
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
			p.i++
		}
		return strconv.ParseFloat(p.s[start:p.i], 64)
	case c == 0:
		return 0, errors.New("unexpected end of expression")
	default:
		return 0, fmt.Errorf("unexpected %q at position %d", c, p.i)
	}
}
