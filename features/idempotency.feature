Feature: Idempotent run creation

  Background:
    Given I work as a new tenant "idem"
    And the agent "my-agent" exists

  @PRS-IDM-001
  Scenario: The same key and body replay the first answer byte for byte
    When I create a run of "my-agent" with input "once" and Idempotency-Key "k-1"
    And I create a run of "my-agent" with input "once" and Idempotency-Key "k-1"
    Then both answers are 201 with identical bodies and the second is marked replayed
    And the tenant has 1 run

  @PRS-IDM-001
  Scenario: The body's idempotency_key is a synonym of the header
    When I create a run of "my-agent" with input "once" and body idempotency_key "k-2"
    And I create a run of "my-agent" with input "once" and Idempotency-Key "k-2"
    Then both answers are 201 with identical bodies and the second is marked replayed
    And the tenant has 1 run

  @PRS-IDM-002
  Scenario: The same key with another body is a 422 problem
    When I create a run of "my-agent" with input "once" and Idempotency-Key "k-3"
    And I create a run of "my-agent" with input "twice" and Idempotency-Key "k-3"
    Then the response is a 422 problem with code "idempotency_key_reused"
    And the tenant has 1 run

  @PRS-IDM-003
  Scenario: 100 concurrent creates with one key make exactly one run
    When 100 clients create a run of "my-agent" with input "race" and Idempotency-Key "k-race" at once, retrying while it is in use
    Then every answer is 201 with the same body, all but one marked replayed
    And the tenant has 1 run

  @PRS-IDM-004
  Scenario: Keys are scoped to the tenant
    When I create a run of "my-agent" with input "once" and Idempotency-Key "shared-key"
    And as a new tenant "idem2" with the agent "my-agent" I create a run with input "once" and Idempotency-Key "shared-key"
    Then the two runs are different
