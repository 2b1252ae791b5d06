package verify

import (
	"fmt"

	"github.com/nexixai/agentos/generators/traceability"
)

// CheckCoverage fails when a live requirement of the PRS file at prsPath has no scenario
// under featuresDir tagged with its id, or when a feature carries a PRS tag that names no
// live requirement. It is the check behind `go run ./generators/cmd/conformance -check`.
func CheckCoverage(prsPath, featuresDir string) error {
	cat, err := traceability.ParsePRSFile(prsPath)
	if err != nil {
		return fmt.Errorf("parse requirements: %w", err)
	}
	scenarios, err := traceability.ParseFeatures(featuresDir)
	if err != nil {
		return err
	}
	return traceability.NewTrace(cat, scenarios).Err()
}
