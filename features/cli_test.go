package features

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/internal/cli"
)

var aliasRef = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

func (w *world) expandAliases(s string) string {
	return aliasRef.ReplaceAllStringFunc(s, func(m string) string {
		return w.env.tenantID(aliasRef.FindStringSubmatch(m)[1])
	})
}

func (w *world) runCLI(args, environ []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return w.runCLIContext(ctx, args, environ)
}

func (w *world) runCLIContext(ctx context.Context, args, environ []string) error {
	var out bytes.Buffer
	w.cliCode = cli.Execute(ctx, args, &out, &out, environ)
	w.cliOut = out.String()
	return nil
}

// endpointArgs point a client command at the deployment under test.
func (w *world) endpointArgs(fed string) []string {
	if fed == "" {
		fed = w.env.urls["federation"]
	}
	return []string{
		"--orchestrator-url", w.env.urls["orchestrator"],
		"--modelpolicy-url", w.env.urls["modelpolicy"],
		"--federation-url", fed,
		"--admin-token", w.env.adminToken,
		"--tenant", w.env.defaultTenant,
	}
}

func (w *world) registerCLI(sc *godog.ScenarioContext) {
	sc.Step(`^I run agentos "([^"]*)"$`, func(cmdline string) error {
		args := strings.Fields(w.expandAliases(cmdline))
		return w.runCLI(append(args, w.endpointArgs("")...), nil)
	})
	sc.Step(`^I run agentos status with the federation at a closed port$`, func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		closed := "http://" + ln.Addr().String()
		_ = ln.Close()
		return w.runCLI(append([]string{"status", "--timeout", "2s"}, w.endpointArgs(closed)...), nil)
	})
	sc.Step(`^the command (succeeds|fails) and prints "(.*)"$`, func(outcome, want string) error {
		want = w.expandAliases(strings.ReplaceAll(want, `\"`, `"`))
		if (w.cliCode == 0) != (outcome == "succeeds") {
			return fmt.Errorf("exit code %d, want the command to %s; output:\n%s", w.cliCode, outcome, w.cliOut)
		}
		if !strings.Contains(w.cliOut, want) {
			return fmt.Errorf("output lacks %q:\n%s", want, w.cliOut)
		}
		return nil
	})
	sc.Step(`^the command succeeds and prints the tenant "([^"]*)"$`, func(alias string) error {
		if w.cliCode != 0 {
			return fmt.Errorf("exit code %d:\n%s", w.cliCode, w.cliOut)
		}
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w.env.tenantID(alias)) + `\s`)
		if !re.MatchString(w.cliOut) {
			return fmt.Errorf("listing lacks tenant %s:\n%s", w.env.tenantID(alias), w.cliOut)
		}
		return nil
	})
	sc.Step(`^the status output lists "([^"]*)", "([^"]*)" and "([^"]*)" as "([^"]*)" with a version$`, func(a, b, c, state string) error {
		for _, svc := range []string{a, b, c} {
			re := regexp.MustCompile(`(?m)^` + svc + `\s+http://\S+\s+` + state + `\s+\S+`)
			if !re.MatchString(w.cliOut) {
				return fmt.Errorf("status output lacks %s %s with a version:\n%s", svc, state, w.cliOut)
			}
		}
		return nil
	})
}
