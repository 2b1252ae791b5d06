Feature: MCP tools
  An agent's tool entry of type mcp names an MCP server, started over stdio or reached
  over Streamable HTTP. The worker offers the server's tools to the model as
  ENTRY__TOOL function tools, calls them, and ends the sessions with the run.
  These scenarios run on a node of their own with an embedded worker and the builtin
  model, which calls a tool when the input has a line "/tool NAME {json}".

  Background:
    Given a node with an embedded worker

  @PRS-WRK-050 @inprocess
  Scenario Outline: An agent calls a tool of an MCP server
    Given the agent "<agent>" has the tool entry "demo": the test MCP server over <transport>
    When the agent "<agent>" runs with the line "/tool demo__add" and arguments {"a": 2, "b": 40}
    Then the MCP run is "completed" with output "The tool returned: 42"
    And the MCP run's tool events are:
      | type        | name      | data           |
      | tool.call   | demo__add | {"a":2,"b":40} |
      | tool.result | demo__add | 42             |

    Examples:
      | agent     | transport       |
      | mcp-stdio | stdio           |
      | mcp-http  | Streamable HTTP |

  @PRS-WRK-050 @inprocess
  Scenario: The entry's tools filter hides the server's other tools
    Given the agent "mcp-filtered" has the tool entry "demo": the test MCP server over stdio, only its tools "echo"
    When the agent "mcp-filtered" runs with the line "/tool demo__add" and arguments {"a": 1, "b": 2}
    Then the MCP run is "completed" with output "I cannot call demo__add: it is not among the offered tools."

  @PRS-WRK-051 @inprocess
  Scenario: A tool error and arguments the input schema refuses are results for the model
    Given the agent "mcp-errors" has the tool entry "demo": the test MCP server over Streamable HTTP
    When the agent "mcp-errors" runs with the line "/tool demo__fail" and arguments {"message": "disk full"}
    Then the MCP run is "completed" with output "The tool returned: error: disk full"
    When the agent "mcp-errors" runs with the line "/tool demo__add" and arguments {"a": "two", "b": 1}
    Then the MCP run is "completed" with an output containing "do not match its parameters"

  @PRS-WRK-051 @inprocess
  Scenario: An MCP server that does not start fails the run
    Given the agent "mcp-broken" has the tool entry "demo": a stdio command that does not exist
    When the agent "mcp-broken" runs with the input "hello"
    Then the MCP run is "failed" with error code "mcp_error" naming the entry "demo"

  @PRS-WRK-052 @inprocess
  Scenario: The stdio server is gone when the run ends
    Given the agent "mcp-ends" has the tool entry "demo": the test MCP server over stdio
    When the agent "mcp-ends" runs with the line "/tool demo__echo" and arguments {"text": "bye"}
    Then the MCP run is "completed" with output "The tool returned: bye"
    And the stdio MCP server has exited

  @PRS-WRK-052 @inprocess
  Scenario: A cancel in the middle of an MCP tool call ends the run within a second
    Given the agent "mcp-slow" has the tool entry "demo": the test MCP server over stdio
    When the agent "mcp-slow" starts with the line "/tool demo__slow" and arguments {"seconds": 60}
    And I cancel the MCP run once the tool is called
    Then the MCP run is "cancelled" within 1 second of the cancel
    And the stdio MCP server has exited
