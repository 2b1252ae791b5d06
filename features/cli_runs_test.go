package features

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/cucumber/godog"
)

func (w *world) registerCLIRuns(sc *godog.ScenarioContext) {
	files := map[string]string{}
	sc.Step(`^an agent file "([^"]*)" with:$`, func(name string, doc *godog.DocString) error {
		dir, err := os.MkdirTemp(w.env.tmpDir(), "agentfile")
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name)
		files[name] = path
		return os.WriteFile(path, []byte(doc.Content+"\n"), 0o600)
	})
	sc.Step(`^I run agentos as my tenant "([^"]*)"$`, func(cmdline string) error {
		cmdline = regexp.MustCompile(`\{file:([^}]+)\}`).ReplaceAllStringFunc(cmdline, func(m string) string {
			return files[strings.TrimSuffix(strings.TrimPrefix(m, "{file:"), "}")]
		})
		if w.run != nil {
			cmdline = strings.ReplaceAll(cmdline, "{run}", string(w.run.RunID))
		}
		args := append(strings.Fields(cmdline),
			"--orchestrator-url", w.env.urls["orchestrator"], "--tenant", w.tenantID)
		return w.runCLI(args, nil)
	})
	sc.Step(`^the CLI printed seqs (\d+) to (\d+) in order$`, func(from, to int) error {
		re := regexp.MustCompile(`(?m)^#(\d+)\s`)
		var got []int
		for _, m := range re.FindAllStringSubmatch(w.cliOut, -1) {
			n, _ := strconv.Atoi(m[1])
			got = append(got, n)
		}
		if len(got) != to-from+1 {
			return fmt.Errorf("printed seqs %v:\n%s", got, w.cliOut)
		}
		for i, n := range got {
			if n != from+i {
				return fmt.Errorf("printed seqs %v", got)
			}
		}
		return nil
	})
}
