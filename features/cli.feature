Feature: Operator commands

  @PRS-CLI-001
  Scenario: agentos status reports every service up with its version
    When I run agentos "status"
    Then the command succeeds and prints "orchestrator"
    And the status output lists "orchestrator", "modelpolicy" and "federation" as "ok" with a version

  @PRS-CLI-001
  Scenario: agentos status exits non-zero when a service is down
    When I run agentos status with the federation at a closed port
    Then the command fails and prints "down"
