Feature: Orchestrator metrics and audit

  @PRS-OBS-001
  Scenario: Metrics expose runs, leases, streams, replays and quota rejections
    Given I work as a new tenant "metrics" with run quotas run_create_qps 1000 and concurrent_runs 1
    And the agent "my-agent" exists
    And I created a run of "my-agent" with input "m"
    And I create a run of "my-agent" with input "refused"
    And a test worker has leased the first run
    When I fetch the metrics of the orchestrator
    Then the metrics include "agentos_runs{status=\"running\"}"
    And the metrics include "agentos_lease_grants_total"
    And the metrics include "agentos_lease_expiries_total"
    And the metrics include "agentos_sse_subscribers"
    And the metrics include "agentos_idempotent_replays_total"
    And the metrics include "agentos_quota_rejections_total{quota=\"concurrent_runs\"}"

  @PRS-OBS-002 @inprocess
  Scenario: Agent and run mutations are audited
    Given I work as a new tenant "audit_runs"
    And the agent "my-agent" exists
    And I created a run of "my-agent" with input "a"
    And a test worker has leased the run
    And the worker completed the run with output "done"
    And I created a run of "my-agent" with input "b"
    And I cancel the run
    When I delete the agent "my-agent"
    Then the tenant's audit actions are "agent.put, run.create, run.complete, run.create, run.cancel, agent.delete"
    And the audit chain of tenant "audit_runs" links each record to the previous one
