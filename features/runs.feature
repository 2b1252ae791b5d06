Feature: Runs and their lifecycle

  Background:
    Given I work as a new tenant "runs"
    And the agent "my-agent" exists

  @PRS-RUN-001
  Scenario: The original README's curl example creates a queued run
    When I send the README's run request for "my-agent"
    Then the answer is 201 with a queued run of "my-agent" at version 1 with input "hello"

  @PRS-RUN-002
  Scenario: A run for an agent that does not exist is a 404 problem
    When I create a run of "no-such-agent" with input "hi"
    Then the request fails with a 404 problem with code "not_found"

  @PRS-RUN-003
  Scenario: Reading and listing runs
    Given I created runs of "my-agent" with inputs "r1", "r2" and "r3"
    And the agent "other" exists
    And I created a run of "other" with input "o1"
    When I list runs 2 at a time
    Then the run listing has inputs "o1", "r3", "r2", "r1"
    When I list runs of agent "my-agent" with status "queued"
    Then the run listing has inputs "r3", "r2", "r1"
    When I get the run
    Then the run has input "o1" and status "queued"

  @PRS-RUN-004 @PRS-RUN-006
  Scenario: Cancelling a queued run ends it at once, and again changes nothing
    Given I created a run of "my-agent" with input "hi"
    When I cancel the run
    Then the run is "cancelled"
    When I cancel the run
    Then the run is "cancelled"
    And the run's events are "run.queued, run.cancelled"

  @PRS-RUN-004 @PRS-WRK-003
  Scenario: Cancelling a running run waits for its worker
    Given I created a run of "my-agent" with input "hi"
    And a test worker has leased the run
    When I cancel the run
    Then the run is "cancelling"
    And the worker's heartbeat reports cancellation requested
    When the worker gives up the run with error "cancelled"
    Then the run is "cancelled"
    And the run's events are "run.queued, run.started, run.cancelling, run.cancelled"

  @PRS-RUN-004 @PRS-RUN-006
  Scenario: Cancelling a completed run is a 409 problem
    Given I created a run of "my-agent" with input "hi"
    And a test worker has leased the run
    And the worker completed the run with output "done"
    When I cancel the run
    Then the request fails with a 409 problem with code "conflict"

  @PRS-RUN-005
  Scenario: Waiting for a run returns when it ends, or at the timeout
    Given I created a run of "my-agent" with input "hi"
    When I wait for the run for "300ms"
    Then the run is "queued"
    Given a test worker has leased the run
    When the worker completes the run with output "42" after 300 ms while I wait for it for "10s"
    Then the run is "completed" with output "42"

  @PRS-RUN-008
  Scenario: Creating a run can wait for it to end
    When I create a run of "my-agent" with input "nobody runs me" waiting "300ms"
    Then the creation answered the run "queued"
    And the creation took at least 300 ms
    When I create a run of "my-agent" with input "run me" waiting "10s" while a test worker completes it with output "42" after 300 ms
    Then the creation answered the run "completed" with output "42"
    When I create a run of "my-agent" with input "hi" waiting "1h"
    Then the response is a 400 problem with code "invalid_argument"

  @PRS-RUN-006
  Scenario: A completed run records each transition with one event
    Given I created a run of "my-agent" with input "hi"
    And a test worker has leased the run
    And the worker appended events "model.delta, tool.call, tool.result, model.message"
    And the worker completed the run with output "done"
    Then the run is "completed" with output "done"
    And the run's events are "run.queued, run.started, model.delta, tool.call, tool.result, model.message, run.completed"
    And the run's usage is 10 prompt and 5 completion tokens

  @PRS-RUN-007 @inprocess
  Scenario: A run whose deadline passes ends timed_out
    Given I created a run of "my-agent" with input "hi" and a deadline in 1 second
    When I wait for the run for "10s"
    Then the run is "timed_out"
    And the run's last event is "run.timed_out"

  @PRS-RUN-007 @inprocess
  Scenario: A run's timeout_seconds sets its deadline
    Given I created a run of "my-agent" with input "hi" and timeout_seconds 1
    When I wait for the run for "10s"
    Then the run is "timed_out"
    And the run's last event is "run.timed_out"

  @PRS-RUN-007 @inprocess
  Scenario: The agent's timeout is the run's deadline
    Given the agent "slow" exists with a timeout of 1 second
    And I created a run of "slow" with input "hi"
    And a test worker has leased the run
    When I wait for the run for "10s"
    Then the run is "timed_out"
