// Package generators holds every go:generate line of the module and the generator
// programs they run. `make generate` runs `go generate ./generators/...`.
//
// The ogen lines below and the Services table in services.go describe the same three
// documents; TestGenerateLinesMatchServices fails when they disagree, so that
// generators/verify regenerates exactly what `go generate` does.
package generators

//go:generate go tool ogen --config ogen.yml --clean --target ../gen/orchestratorapi --package orchestratorapi ../spec/orchestrator.yaml
//go:generate go tool ogen --config ogen.yml --clean --target ../gen/modelpolicyapi --package modelpolicyapi ../spec/modelpolicy.yaml
//go:generate go tool ogen --config ogen.yml --clean --target ../gen/federationapi --package federationapi ../spec/federation.yaml
