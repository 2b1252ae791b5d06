package features

import "github.com/cucumber/godog"

func (w *world) registerSpec(sc *godog.ScenarioContext) {}
