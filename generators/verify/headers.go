package verify

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// generatedHeader is Go's convention for machine-written files
// (https://go.dev/s/generatedcode).
var generatedHeader = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

// CheckHeaders fails on every file under genDir that is not a Go file whose first line is
// a `// Code generated … DO NOT EDIT.` header. ogen's --clean removes only the files it
// would generate itself, so a hand-written file left in gen/ would otherwise survive
// every regeneration.
func CheckHeaders(genDir string) error {
	var problems []string
	err := filepath.WalkDir(genDir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			problems = append(problems, fmt.Sprintf("%s: not a regular file", path))
		case filepath.Ext(path) != ".go":
			problems = append(problems, fmt.Sprintf("%s: not a Go file; gen/ holds generated Go code only", path))
		default:
			first, err := firstLine(path)
			if err != nil {
				return err
			}
			if !generatedHeader.MatchString(first) {
				problems = append(problems, fmt.Sprintf("%s: first line is not `// Code generated … DO NOT EDIT.`", path))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk generated code: %w", err)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
