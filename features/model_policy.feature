Feature: Model policy
  Every gateway call is decided by OPA Rego policy: denies are 403 problems with their
  reasons, obligations shape the forwarded request, policies hot-reload and every
  decision is audited with the policy revision.

  @PRS-POL-001 @inprocess
  Scenario: A deny is a 403 problem carrying every reason
    Given the model node
    When tenant "denied" on the model node sends a chat completion:
      """
      {"model": "up-chat", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "shell"}}, {"type": "function", "function": {"name": "http_fetch"}}]}
      """
    Then the response is a 403 problem with code "permission_denied"
    And the problem gives the reasons that tools "shell" and "http_fetch" are not allowed
    And the upstreams received no request

  @PRS-POL-002 @inprocess
  Scenario Outline: A max_tokens obligation is applied to the forwarded body
    Given the model node
    When tenant "capped" on the model node sends a chat completion:
      """
      {"model": "up-chat", "messages": [{"role": "user", "content": "x"}]<extra>}
      """
    Then the response status is 200
    And the upstream received "<field>" as <value>

    Examples:
      | extra                         | field                 | value |
      | , "max_tokens": 5000          | max_tokens            | 64    |
      |                               | max_tokens            | 64    |
      | , "max_tokens": 10            | max_tokens            | 10    |
      | , "max_completion_tokens": 99 | max_completion_tokens | 64    |

  @PRS-POL-003 @inprocess
  Scenario: A policy that does not compile is rejected and the previous one keeps serving
    Given the model node
    And I note the model node's policy revision
    When a policy file that does not compile is added to the model node's policy directory
    Then the model node's policy status soon reports an error mentioning "broken.rego"
    And the model node still serves the noted policy revision
    When tenant "reload" on the model node sends a chat completion:
      """
      {"model": "up-chat", "max_tokens": 5000, "messages": [{"role": "user", "content": "x"}]}
      """
    Then the upstream received "max_tokens" as 64
    When the broken policy file is removed
    Then the model node's policy status soon reports no error

  @PRS-POL-003 @inprocess
  Scenario: A policy change is picked up without a restart
    Given the model node
    When the model node's policy caps max_tokens at 32
    And tenant "hot" on the model node sends a chat completion:
      """
      {"model": "up-chat", "max_tokens": 5000, "messages": [{"role": "user", "content": "x"}]}
      """
    Then the upstream received "max_tokens" as 32
    When the model node's policy caps max_tokens at 64
    Then the model node's policy status soon reports no error

  @PRS-POL-004
  Scenario: A dry run returns the decision without calling a model
    When the default tenant evaluates the policy for "chat.completions" on "builtin-chat" with tool "memory_get"
    Then the decision allows with a max_tokens obligation of 4096 and a policy revision

  @PRS-POL-004 @inprocess
  Scenario: A dry run reports a deny's reasons
    Given the model node
    When tenant "dry" on the model node evaluates the policy for "chat.completions" on "up-embedding"
    Then the decision denies because "model \"up-embedding\" is not allowed"

  @PRS-POL-005 @inprocess
  Scenario: Every decision is audited with the policy revision
    Given a tenant "audited_calls" exists
    When the OpenAI client of tenant "audited_calls" asks "builtin-chat" to complete "audit me"
    And the OpenAI client of tenant "audited_calls" asks "no-such-model" to complete "x"
    Then tenant "audited_calls" soon has an audit record "model.chat.completions" with outcome "success" and the policy revision
    And tenant "audited_calls" soon has an audit record "model.chat.completions" with outcome "failure"

  @PRS-POL-006 @PRS-POL-007
  Scenario: agentos policy test runs the embedded bundle's Rego unit tests
    When I run agentos policy "test -v"
    Then the command succeeds and prints "0 failed"
    And the command printed "test_unknown_tenant_is_denied"
    And the command printed "test_model_allowlist"
    And the command printed "test_tool_allowlist"

  @PRS-POL-006
  Scenario: agentos policy test fails on a failing test
    Given a policy directory with a failing Rego test
    When I run agentos policy "test {policy_dir}"
    Then the command fails and prints "1 failed"

  @PRS-POL-006 @PRS-POL-007
  Scenario: agentos policy eval denies an unknown tenant
    Given a policy input file:
      """
      {"tenant": {"id": "ghost", "known": false, "labels": {}}, "principal": {"id": "p", "roles": [], "auth": "dev"},
       "operation": "chat.completions", "model": "builtin-chat", "tools": [], "estimated_tokens": 1, "max_tokens": 0, "stream": false}
      """
    When I run agentos policy "eval --input {input}"
    Then the command succeeds and prints "\"allow\": false"
    And the command printed "unknown tenant"

  @PRS-POL-007
  Scenario: An undefined decision is a deny
    Given a policy directory whose decision is undefined
    And a policy input file:
      """
      {"tenant": {"id": "t", "known": true}, "model": "m"}
      """
    When I run agentos policy "eval --dir {policy_dir} --input {input}"
    Then the command succeeds and prints "policy decision is undefined"
