Feature: Run quotas

  @PRS-RQT-001 @PRS-RQT-003
  Scenario: Creating runs faster than the tenant's rate is a 429 with Retry-After
    Given I work as a new tenant "slowpoke" with run quotas run_create_qps 3 and concurrent_runs 1000
    And the agent "my-agent" exists
    When I create 8 runs of "my-agent" as fast as I can
    Then at most 6 were created and the others were 429 problems with code "rate_limited" and a Retry-After header

  @PRS-RQT-002 @PRS-RQT-003
  Scenario: The concurrent runs quota frees a slot when a run ends
    Given I work as a new tenant "narrow" with run quotas run_create_qps 1000 and concurrent_runs 2
    And the agent "my-agent" exists
    And I created runs of "my-agent" with inputs "a" and "b"
    When I create a run of "my-agent" with input "c"
    Then the request fails with a 429 problem with code "rate_limited"
    And the last response has a Retry-After header
    When I cancel the run
    And I create a run of "my-agent" with input "c"
    Then the answer is 201 with a queued run of "my-agent" at version 1 with input "c"
