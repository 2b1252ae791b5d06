package orchestrator

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/apierr"
)

func TestRelayedCode(t *testing.T) {
	t.Parallel()
	require.Equal(t, apierr.CodeRateLimited, relayedCode("rate_limited", 429))
	require.Equal(t, apierr.CodePermissionDenied, relayedCode("policy_denied", 403), "an unknown code keeps its 4xx meaning")
	require.Equal(t, apierr.CodeNotFound, relayedCode("model_not_found", 404))
	require.Equal(t, apierr.CodeUpstreamError, relayedCode("internal_error", 500))
	require.Equal(t, 403, relayedCode("policy_denied", 403).Status())
}
