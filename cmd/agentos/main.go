// Command agentos is the single AgentOS binary: serve, migrate, status, tenants, audit.
package main

import "github.com/nexixai/agentos/internal/cli"

func main() { cli.Main() }
