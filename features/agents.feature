Feature: Agents registry
  Agents are tenant-scoped, versioned definitions: model, instructions, tools, limits, labels.

  Background:
    Given I work as a new tenant "agents"

  @PRS-AGT-001
  Scenario: Creating, changing and re-putting an agent
    When I put the agent "helper" with model "builtin" and instructions "Be brief."
    Then the answer is 201 with agent "helper" at version 1
    When I put the agent "helper" with model "builtin" and instructions "Be briefer."
    Then the answer is 200 with agent "helper" at version 2
    When I put the agent "helper" with model "builtin" and instructions "Be briefer."
    Then the answer is 200 with agent "helper" at version 2

  @PRS-AGT-002
  Scenario: Reading the latest and an older version
    Given the agent "helper" has versions with instructions "one", "two" and "three"
    When I get the agent "helper"
    Then I get version 3 with instructions "three"
    When I get version 1 of the agent "helper"
    Then I get version 1 with instructions "one"
    When I get version 9 of the agent "helper"
    Then the request fails with a 404 problem with code "not_found"

  @PRS-AGT-003
  Scenario: Listing agents newest first, by page and by label
    Given agents "a1", "a2", "a3" labelled "team=red" and "b1", "b2" labelled "team=blue" were put in that order
    When I list agents 2 at a time
    Then the listing is "b2", "b1", "a3", "a2", "a1"
    When I list agents with label "team=red"
    Then the listing is "a3", "a2", "a1"

  @PRS-AGT-004
  Scenario: A deleted agent is gone but its runs keep their version
    Given the agent "helper" exists
    And I created a run of "helper" with input "hi"
    When I delete the agent "helper"
    Then getting the agent "helper" fails with a 404 problem
    And the run still names agent "helper" at version 1
    And creating a run of "helper" fails with a 404 problem with code "not_found"

  @PRS-AGT-005
  Scenario Outline: An invalid definition is a 400 problem naming the field
    When I put the agent "bad" with the body:
      """
      <body>
      """
    Then the response is a 400 problem
    And the problem detail mentions "<field>"

    Examples:
      | body                                                                                               | field                |
      | {"model": "builtin", "tools": [{"name": "t", "parameters": {"type": "nonsense"}}]}                  | tools[0].parameters  |
      | {"model": "builtin", "tools": [{"name": "t"}, {"name": "t"}]}                                        | tools[1].name        |
      | {"model": "builtin", "tools": [{"name": "m", "type": "mcp", "mcp": {"transport": "stdio"}}]}          | tools[0].mcp.command |
      | {"model": "builtin", "tools": [{"name": "m", "type": "mcp", "mcp": {"transport": "http", "url": "ftp://x"}}]} | tools[0].mcp.url |
      | {"model": "builtin", "tools": [{"name": "teleport", "type": "builtin"}]}                            | tools[0].name        |
      | {"model": "builtin", "colour": "red"}                                                              | colour               |
      | {"instructions": "no model"}                                                                       | model                |
      | {"model": "builtin", "limits": {"max_steps": 0}}                                                   | max_steps            |
