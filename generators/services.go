package generators

import "path"

// Service is one OpenAPI service document under spec/ and the Go package ogen generates
// from it under gen/.
type Service struct {
	// Name is the document's base name without extension: spec/<Name>.yaml.
	Name string
	// Package is the generated package name and its directory under gen/.
	Package string
}

// Services lists every service document, in the order of the go:generate lines in
// generate.go. A test keeps the two in step; every check in generators/verify walks this
// table.
var Services = []Service{
	{Name: "orchestrator", Package: "orchestratorapi"},
	{Name: "modelpolicy", Package: "modelpolicyapi"},
	{Name: "federation", Package: "federationapi"},
}

// OgenConfig is the ogen configuration file, relative to the generators directory.
const OgenConfig = "ogen.yml"

// SpecFile returns the document's file name relative to the spec directory.
func (s Service) SpecFile() string { return s.Name + ".yaml" }

// OgenArgs returns the arguments of `go tool ogen` that generate the service's package into
// target from the spec directory specDir, both as seen from the generators directory. With
// target "../gen/<Package>" and specDir "../spec" they are the go:generate line's arguments.
func (s Service) OgenArgs(target, specDir string) []string {
	return []string{
		"--config", OgenConfig,
		"--clean",
		"--target", target,
		"--package", s.Package,
		path.Join(specDir, s.SpecFile()),
	}
}
