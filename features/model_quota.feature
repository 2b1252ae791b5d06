Feature: Model quotas and metering
  Per-tenant invocation rates and tokens per minute, reserved before a call and settled to
  the actual usage after; usage recorded per tenant, model and principal.

  @PRS-QTA-001
  Scenario: Calls over the invocation rate are a 429 problem with Retry-After
    Given a tenant "ratelimited" exists with an invocation rate of 1 per second
    When tenant "ratelimited" sends 4 chat completions to "builtin-chat" in a row
    Then at least one was a 429 problem with code "rate_limited" and a Retry-After header

  @PRS-QTA-002
  Scenario: Tokens per minute hold across calls
    Given a tenant "tokenlimited" exists with 40 tokens per minute
    When tenant "tokenlimited" sends chat completions to "builtin-chat" with max_tokens 10 until one is refused
    Then the refused call was a 429 problem with code "rate_limited" and a Retry-After header
    And the accepted calls used at most 40 tokens

  @PRS-QTA-003 @inprocess
  Scenario: A stream whose upstream reports no usage is metered with an estimate
    Given the model node
    And the upstreams report no usage
    When the OpenAI client of tenant "estimated" on the model node streams "x" from "up-chat"
    Then the usage of tenant "estimated" on the model node soon shows "up-chat" with estimated, non-zero tokens

  @PRS-QTA-004
  Scenario: GET /v1/usage reports the tenant's usage by window and nothing of other tenants
    Given a tenant "usage_a" exists
    And a tenant "usage_b" exists
    When the OpenAI client of tenant "usage_a" asks "builtin-chat" to complete "one two three"
    Then the usage of tenant "usage_a" by "minute" soon shows 1 request of "builtin-chat" with 5 completion tokens
    And the usage of tenant "usage_a" by "day" soon shows 1 request of "builtin-chat" with 5 completion tokens
    And the usage of tenant "usage_b" by "hour" is empty
