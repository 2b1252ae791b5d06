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

  @PRS-CLI-002
  Scenario: Agents are applied from a file and managed with the CLI
    Given I work as a new tenant "cli_agents"
    And an agent file "helper.yaml" with:
      """
      id: helper
      model: builtin
      instructions: Be brief.
      labels:
        team: ops
      """
    When I run agentos as my tenant "agents apply -f {file:helper.yaml}"
    Then the command succeeds and prints "created agent helper version 1"
    When I run agentos as my tenant "agents list --label team=ops"
    Then the command succeeds and prints "helper"
    When I run agentos as my tenant "agents get helper"
    Then the command succeeds and prints "Be brief."
    Given an agent file "typo.yaml" with:
      """
      id: helper
      modle: builtin
      """
    When I run agentos as my tenant "agents apply -f {file:typo.yaml}"
    Then the command fails and prints "modle"
    When I run agentos as my tenant "agents delete helper"
    Then the command succeeds and prints "helper"

  @PRS-CLI-003
  Scenario: Runs are created, watched and listed with the CLI
    Given I work as a new tenant "cli_runs"
    And the agent "my-agent" exists
    And I created a run of "my-agent" with input "watch me"
    And a test worker has leased the run
    And the worker appended 3 model.delta events
    And the worker completed the run with output "all done"
    When I run agentos as my tenant "runs watch {run}"
    Then the command succeeds and prints "#6"
    And the CLI printed seqs 1 to 6 in order
    When I run agentos as my tenant "runs list --agent my-agent"
    Then the command succeeds and prints "completed"
    When I run agentos as my tenant "runs create my-agent --input hi"
    Then the command succeeds and prints "run_"
