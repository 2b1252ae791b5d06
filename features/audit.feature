@inprocess
Feature: Audit
  Every mutation leaves one hash-chained audit record in the database and the sink;
  `agentos audit verify` finds tampering.

  @PRS-AUD-001
  Scenario: A mutation is audited in the database and the sink
    When I put tenant "audited" with display name "A" and label "k" = "v"
    Then the database holds an audit record "tenant.create" for tenant "audited" with outcome "success", principal "admin" and the request id
    And the audit sink holds the same record
    And the audit chain of tenant "audited" links each record to the previous one

  @PRS-AUD-002
  Scenario: An untouched audit log verifies
    Given tenant "chain_ok" has 3 audit records
    When I run agentos audit verify for tenant "chain_ok"
    Then the command succeeds and prints "audit log intact"

  @PRS-AUD-002
  Scenario: An edited record is found
    Given tenant "chain_edit" has 3 audit records
    When someone edits the action of audit record 2 of tenant "chain_edit"
    And I run agentos audit verify for tenant "chain_edit"
    Then the command fails and prints "record 2 edited"

  @PRS-AUD-002
  Scenario: A deleted record is found
    Given tenant "chain_del" has 3 audit records
    When someone deletes audit record 2 of tenant "chain_del"
    And I run agentos audit verify for tenant "chain_del"
    Then the command fails and prints "record 2 deleted"

  @PRS-AUD-002
  Scenario: A deleted newest record is found
    Given tenant "chain_tail" has 3 audit records
    When someone deletes audit record 3 of tenant "chain_tail"
    And I run agentos audit verify for tenant "chain_tail"
    Then the command fails and prints "chain_tail"

  @PRS-AUD-002
  Scenario: An inserted record is found
    Given tenant "chain_ins" has 3 audit records
    When someone inserts a forged audit record after record 1 of tenant "chain_ins"
    And I run agentos audit verify for tenant "chain_ins"
    Then the command fails and prints "chain_ins"
