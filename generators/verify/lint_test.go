package verify_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/generators/verify"
)

func TestLint(t *testing.T) {
	t.Parallel()

	t.Run("the real spec passes", func(t *testing.T) {
		t.Parallel()

		require.NoError(t, verify.Lint(filepath.Join(repoRoot, "spec")))
	})

	t.Run("the committed baseline passes", func(t *testing.T) {
		t.Parallel()

		require.NoError(t, verify.Lint(filepath.Join(repoRoot, "spec", "baseline")))
	})

	tests := []struct {
		name string
		// file is the document to edit, relative to the spec directory.
		file     string
		old, new string
		want     []string
	}{
		{
			name: "operation without operationId",
			file: "orchestrator.yaml",
			old:  "      operationId: getCaller\n",
			want: []string{"orchestrator.yaml: GET /v1/whoami: no operationId"},
		},
		{
			name: "operation without default response",
			file: "federation.yaml",
			old: `                $ref: 'components/common.yaml#/components/schemas/Readiness'
        default:
          $ref: 'components/common.yaml#/components/responses/Problem'
`,
			new:  "                $ref: 'components/common.yaml#/components/schemas/Readiness'\n",
			want: []string{"federation.yaml: GET /v1/ready: no default response"},
		},
		{
			name: "duplicate operationId",
			file: "orchestrator.yaml",
			old:  "operationId: getTenant\n",
			new:  "operationId: putTenant\n",
			want: []string{`orchestrator.yaml: GET /v1/tenants/{tenant_id}: operationId "putTenant" is also used by PUT /v1/tenants/{tenant_id}`},
		},
		{
			name: "operation without summary or tag",
			file: "federation.yaml",
			old:  "      summary: Liveness of the federation service.\n      tags: [system]\n",
			want: []string{
				"federation.yaml: GET /v1/federation/health: no summary",
				"federation.yaml: GET /v1/federation/health: no tag",
			},
		},
		{
			name: "default response that is not a problem",
			file: "orchestrator.yaml",
			old: `      responses:
        '204':
          description: The tenant was deleted.
        default:
          $ref: 'components/common.yaml#/components/responses/Problem'
`,
			new: `      responses:
        '204':
          description: The tenant was deleted.
        default:
          description: Something went wrong.
          content:
            application/json:
              schema:
                type: object
`,
			want: []string{"orchestrator.yaml: DELETE /v1/tenants/{tenant_id}: default response offers application/json; want only application/problem+json"},
		},
		{
			name: "problem content with another schema",
			file: "orchestrator.yaml",
			old: `        '204':
          description: The tenant was deleted.
        default:
          $ref: 'components/common.yaml#/components/responses/Problem'
`,
			new: `        '204':
          description: The tenant was deleted.
        default:
          description: Something went wrong.
          content:
            application/problem+json:
              schema:
                $ref: 'components/common.yaml#/components/schemas/FieldError'
`,
			want: []string{`orchestrator.yaml: DELETE /v1/tenants/{tenant_id}: default response schema is "components/common.yaml#/components/schemas/FieldError"`},
		},
		{
			name: "unversioned path",
			file: "modelpolicy.yaml",
			old:  "  /v1/ready:\n",
			new:  "  /ready:\n",
			want: []string{"modelpolicy.yaml: /ready: path is outside /v1/ and /.well-known/"},
		},
		{
			name: "undeclared and unused path parameters",
			file: "orchestrator.yaml",
			old:  "  /v1/tenants/{tenant_id}:\n",
			new:  "  /v1/tenants/{id}:\n",
			want: []string{
				`orchestrator.yaml: GET /v1/tenants/{id}: path parameter "id" is not declared`,
				`orchestrator.yaml: GET /v1/tenants/{id}: path parameter "tenant_id" is declared but not in the path`,
				`orchestrator.yaml: PUT /v1/tenants/{id}: path parameter "id" is not declared`,
				`orchestrator.yaml: DELETE /v1/tenants/{id}: path parameter "id" is not declared`,
			},
		},
		{
			name: "unresolvable reference",
			file: "federation.yaml",
			old:  "$ref: 'components/common.yaml#/components/schemas/Health'",
			new:  "$ref: 'components/common.yaml#/components/schemas/Nope'",
			want: []string{"federation.yaml: build v3 model:", "Nope"},
		},
		{
			name: "document missing from the service table",
			file: "extra.yaml",
			new:  "openapi: 3.1.0\n",
			want: []string{`extra.yaml: not listed in generators.Services`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			spec := filepath.Join(t.TempDir(), "spec")
			copyTree(t, filepath.Join(repoRoot, "spec"), spec)
			path := filepath.Join(spec, tc.file)
			if _, err := os.Stat(path); err == nil {
				edit(t, path, tc.old, tc.new)
			} else {
				writeFile(t, path, tc.new)
			}

			err := verify.Lint(spec)
			require.Error(t, err)
			for _, want := range tc.want {
				require.ErrorContains(t, err, want)
			}
		})
	}
}
