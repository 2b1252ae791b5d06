package verify_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators/verify"
)

func TestCheckBreaking(t *testing.T) {
	t.Parallel()

	// setup returns a baseline and a revision directory, both copies of the real spec/.
	setup := func(t *testing.T) (base, rev string) {
		t.Helper()
		dir := t.TempDir()
		base, rev = filepath.Join(dir, "base"), filepath.Join(dir, "rev")
		require.NoError(t, verify.RefreshBaseline(filepath.Join(repoRoot, "spec"), base))
		require.NoError(t, verify.RefreshBaseline(filepath.Join(repoRoot, "spec"), rev))
		return base, rev
	}

	t.Run("the committed baseline passes", func(t *testing.T) {
		t.Parallel()

		require.NoError(t, verify.CheckBreaking(filepath.Join(repoRoot, "spec", "baseline"), filepath.Join(repoRoot, "spec")))
	})

	t.Run("an unchanged copy passes", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		require.NoError(t, verify.CheckBreaking(base, rev))
	})

	t.Run("removing a required response field fails", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		// Check once before the edit: a stale read of the edited file would hide the change.
		require.NoError(t, verify.CheckBreaking(base, rev))
		common := filepath.Join(rev, "components", "common.yaml")
		edit(t, common, "required: [status, service, version]", "required: [status, service]")
		edit(t, common, `        version:
          type: string
          description: Build version of the serving binary.
`, "")

		err := verify.CheckBreaking(base, rev)
		require.Error(t, err)
		for _, doc := range []string{"orchestrator.yaml", "modelpolicy.yaml"} {
			require.ErrorContains(t, err, doc+": GET /v1/health: removed the required property `version`")
		}
		require.ErrorContains(t, err, "federation.yaml: GET /v1/federation/health: removed the required property `version`")
		require.ErrorContains(t, err, "[response-required-property-removed]")
	})

	t.Run("removing an operation fails", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		edit(t, filepath.Join(rev, "orchestrator.yaml"), `    delete:
      operationId: deleteTenant
      summary: Delete a tenant.
      tags: [tenants]
      security:
        - adminToken: []
      responses:
        '204':
          description: The tenant was deleted.
        default:
          $ref: 'components/common.yaml#/components/responses/Problem'
`, "")

		require.ErrorContains(t, verify.CheckBreaking(base, rev), "orchestrator.yaml: DELETE /v1/tenants/{tenant_id}: API removed without deprecation")
	})

	t.Run("adding an optional field passes", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		edit(t, filepath.Join(rev, "components", "common.yaml"), `          description: Build version of the serving binary.
`, `          description: Build version of the serving binary.
        commit:
          type: string
          description: VCS revision of the build.
`)
		require.NoError(t, verify.CheckBreaking(base, rev))
	})

	t.Run("adding an operation passes", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		edit(t, filepath.Join(rev, "modelpolicy.yaml"), "components:\n  securitySchemes:", `  /v1/added-for-the-test:
    get:
      operationId: getAddedForTheTest
      summary: An operation the baseline does not have.
      tags: [system]
      responses:
        '200':
          description: The models.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    type: array
                    items:
                      type: string
        default:
          $ref: 'components/common.yaml#/components/responses/Problem'
components:
  securitySchemes:`)
		require.NoError(t, verify.CheckBreaking(base, rev))
	})

	t.Run("only /v1 paths count", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		edit(t, filepath.Join(base, "federation.yaml"), "paths:\n", `paths:
  /metrics:
    get:
      operationId: getMetrics
      summary: Prometheus metrics.
      tags: [system]
      responses:
        '200':
          description: Metrics.
          content:
            text/plain:
              schema:
                type: string
`)
		require.NoError(t, verify.CheckBreaking(base, rev))
	})

	t.Run("a document without a baseline is new and passes", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		require.NoError(t, os.Remove(filepath.Join(base, "federation.yaml")))
		require.NoError(t, verify.CheckBreaking(base, rev))
	})

	t.Run("a removed document fails", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		require.NoError(t, os.Remove(filepath.Join(rev, "federation.yaml")))
		require.ErrorContains(t, verify.CheckBreaking(base, rev), "federation.yaml: removed")
	})

	t.Run("an unresolvable reference is an error", func(t *testing.T) {
		t.Parallel()

		base, rev := setup(t)
		require.NoError(t, os.Remove(filepath.Join(rev, "components", "common.yaml")))
		require.ErrorContains(t, verify.CheckBreaking(base, rev), "load revision")
	})
}

func TestRefreshBaseline(t *testing.T) {
	t.Parallel()

	t.Run("mirrors the OpenAPI files and drops stale ones", func(t *testing.T) {
		t.Parallel()

		spec := filepath.Join(t.TempDir(), "spec")
		copyTree(t, filepath.Join(repoRoot, "spec"), spec)
		base := filepath.Join(spec, "baseline")
		writeFile(t, filepath.Join(base, "stale.yaml"), "openapi: 3.1.0\n")

		require.NoError(t, verify.RefreshBaseline(spec, base))
		for _, f := range []string{"orchestrator.yaml", "modelpolicy.yaml", "federation.yaml", "components/common.yaml"} {
			want, err := os.ReadFile(filepath.Join(spec, f))
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(base, f))
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), f)
		}
		require.NoFileExists(t, filepath.Join(base, "stale.yaml"))
		require.NoFileExists(t, filepath.Join(base, "prs.md"))
		require.NoDirExists(t, filepath.Join(base, "baseline"))
	})

	t.Run("refuses a baseline that holds the spec", func(t *testing.T) {
		t.Parallel()

		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "spec", "x.yaml"), "openapi: 3.1.0\n")
		require.ErrorContains(t, verify.RefreshBaseline(filepath.Join(dir, "spec"), dir), "lies inside")
		require.FileExists(t, filepath.Join(dir, "spec", "x.yaml"))
	})
}
