Feature: Run event log and streaming

  Background:
    Given I work as a new tenant "events"
    And the agent "my-agent" exists

  @PRS-EVT-001
  Scenario: The stream carries every event with its seq and ends after the terminal one
    Given I created a run of "my-agent" with input "stream me"
    And I am streaming the run's events
    And a test worker has leased the run
    When the worker appends 20 model.delta events and completes the run
    Then the stream ends after "run.completed"
    And the stream delivered seqs 1 to 23 in order, each once, as SSE ids

  @PRS-EVT-002
  Scenario: A client dropped mid-stream resumes with Last-Event-ID without loss or repeats
    Given I created a run of "my-agent" with input "resume me"
    And a test worker has leased the run
    And the worker appended 10 model.delta events
    And I am streaming the run's events
    When I drop the stream after seq 6
    And the worker appends 10 model.delta events and completes the run
    And I reconnect with Last-Event-ID 6
    Then the stream ends after "run.completed"
    And across both connections seqs 1 to 23 arrived in order, each once

  @PRS-EVT-002
  Scenario: ?after= replays from a seq
    Given I created a run of "my-agent" with input "replay"
    And a test worker has leased the run
    And the worker appended 3 model.delta events
    And the worker completed the run with output "ok"
    When I stream the run's events after seq 3
    Then the stream delivered seqs 4 to 6 in order, each once, as SSE ids

  @PRS-EVT-003 @inprocess
  Scenario: An idle stream carries keepalive comments
    Given I created a run of "my-agent" with input "idle"
    And I am streaming the run's events
    When nothing happens for 1 second
    Then the stream carried a keepalive comment

  @PRS-EVT-004
  Scenario: The same events as JSON pages
    Given I created a run of "my-agent" with input "pages"
    And a test worker has leased the run
    And the worker appended 5 model.delta events
    And the worker completed the run with output "ok"
    When I page through the run's events as JSON 3 at a time
    Then the pages held seqs 1 to 8 in order and the last page is terminal

  @PRS-EVT-005 @inprocess @postgres
  Scenario: A stream on one orchestrator tails events written through another
    Given a second orchestrator sharing the PostgreSQL database
    And I created a run of "my-agent" with input "cross"
    And I am streaming the run's events from the second orchestrator
    And a test worker has leased the run
    When the worker appends 5 model.delta events and completes the run
    Then the stream ends after "run.completed"
    And the stream delivered seqs 1 to 8 in order, each once, as SSE ids
