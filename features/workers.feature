Feature: Worker lease protocol
  Remote workers lease runs over HTTP, heartbeat, post events with a fencing token and
  finish runs; the orchestrator alone decides state.

  Background:
    Given I work as a new tenant "workers"
    And the agent "my-agent" exists

  @PRS-WRK-001
  Scenario Outline: The lease protocol refuses non-worker credentials
    When I lease runs with <credential>
    Then the response is a 401 problem with code "unauthenticated"

    Examples:
      | credential                  |
      | no credential               |
      | the admin token             |
      | a tenant header             |
      | a wrong worker token        |

  @PRS-WRK-002
  Scenario: A lease carries the run, its agent version and the lease
    Given I created a run of "my-agent" with input "work"
    When a test worker leases the run
    Then the lease names the run, agent "my-agent" version 1, fencing token 1 and an expiry in the future
    And the run is "running" at attempt 1

  @PRS-WRK-002
  Scenario: A lease long-polls until a run is queued
    When a test worker waits up to 10 seconds for a lease while I create a run of "my-agent" after 500 ms
    Then the worker got that run

  @PRS-WRK-004
  Scenario: A stale fencing token changes nothing
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When the worker posts events with fencing token 7
    Then the response is a 409 problem with code "lease_lost"
    When the worker completes the run with fencing token 7
    Then the response is a 409 problem with code "lease_lost"
    And the run is "running" at attempt 1
    And the run's events are "run.queued, run.started"

  @PRS-WRK-005 @PRS-WRK-004 @inprocess
  Scenario: A worker that stops heartbeating loses its run to another worker
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When the worker stops heartbeating until the lease lapses
    Then another test worker leases the run with fencing token 2
    And the first worker's heartbeat, events and completion are 409 problems with code "lease_lost"
    When the second worker completes the run with output "rescued"
    Then the run is "completed" with output "rescued"
    And the run's events are "run.queued, run.started, run.queued, run.started, run.completed"

  @PRS-WRK-007 @inprocess
  Scenario: A run leased again carries the steps its earlier attempt recorded
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    Then the lease's history is ""
    When the worker posts events "model.delta, model.message, tool.call, tool.result, model.delta"
    And the worker stops heartbeating until the lease lapses
    Then another test worker leases the run with fencing token 2
    And the lease's history is "model.message, tool.call, tool.result"

  @PRS-WRK-008
  Scenario: A completion carries the run's last events
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When the worker completes the run with output "done" and events "model.delta, model.message"
    Then the run is "completed" with output "done"
    And the run's events are "run.queued, run.started, model.delta, model.message, run.completed"

  @PRS-WRK-008 @PRS-WRK-004
  Scenario: A completion with a stale fencing token appends none of its events
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When the worker completes the run with fencing token 9 and events "model.message"
    Then the response is a 409 problem with code "lease_lost"
    And the run's events are "run.queued, run.started"

  @PRS-WRK-005 @inprocess
  Scenario: A run whose lease lapses on its last attempt fails
    Given I created a run of "my-agent" with input "work"
    When test workers lease the run and let the lease lapse 2 times
    Then the run is "failed" with error code "lease_expired"

  @PRS-WRK-006
  Scenario: A retried event batch is appended once
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When the worker posts the batch "b-1" with 3 events twice
    Then the run's last seq is 5

  @PRS-AUTH-005
  Scenario: A lease's access token acts for the run's tenant, as the worker
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When I ask the orchestrator who I am with the lease's access token
    Then I am the run's tenant as principal "worker:test-worker-1"
    When I list Model Policy's models with the lease's access token
    Then the call succeeded
    When I remember "run memory" as "notes/run" with the lease's access token
    Then recalling "notes/run" gives "run memory"
    When I list tenants with the lease's access token as the admin credential
    Then the request fails with a 401 problem with code "unauthenticated"
    When I list the tenant's agents with the lease's access token
    Then the request fails with a 403 problem with code "permission_denied"

  @PRS-AUTH-005
  Scenario: Each heartbeat answers a fresh access token for the extended lease
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When the worker heartbeats after 1100 ms
    Then the heartbeat's access token differs from the lease's and Model Policy accepts it

  @PRS-AUTH-005
  Scenario Outline: A tampered or forged access token is a 401 problem
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    When I list Model Policy's models with the lease's access token <changed>
    Then the request fails with a 401 problem with code "unauthenticated"
    And the problem says "<why>"
    When I ask the orchestrator who I am with the lease's access token <changed>
    Then the request fails with a 401 problem with code "unauthenticated"

    Examples:
      | changed                         | why                   |
      | with its tenant changed         | signature is invalid  |
      | signed with another key         | signature is invalid  |
      | cut short                       | malformed             |

  @PRS-AUTH-005 @inprocess
  Scenario: An access token expires with its lease
    Given I created a run of "my-agent" with input "work"
    And a test worker has leased the run
    Then the lease's access token expires with the lease
    When the worker stops heartbeating until the lease's access token expires
    And I list Model Policy's models with the lease's access token
    Then the request fails with a 401 problem with code "unauthenticated"
    And the problem says "expired"
