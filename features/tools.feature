Feature: Tool calls
  Workers put every tool call to Model Policy before running it. The builtin http_fetch
  goes only to the hosts a tenant's policy allows and never to loopback, private or
  link-local addresses unless the policy allows the tenant internal targets.

  @PRS-POL-008 @PRS-POL-009
  Scenario: The embedded bundle allows tools by the tenant's globs and refuses http_fetch until hosts are configured
    When the default tenant authorizes the tool call "memory_get"
    Then the tool call is allowed without obligations
    When the default tenant authorizes http_fetch of "https://example.com/"
    Then the response is a 403 problem with code "permission_denied"
    And the problem gives the reason "host \"example.com\" is not allowed for http_fetch"

  @PRS-POL-008 @PRS-POL-009 @inprocess
  Scenario: An allowed fetch carries its limits; a host off the list is refused with the reason
    Given the model node
    When tenant "fetcher" on the model node authorizes http_fetch of "http://127.0.0.1:8080/x"
    Then the tool call is allowed with obligations allow_internal true, max_bytes 4096 and timeout_ms 10000
    When tenant "fetcher" on the model node authorizes http_fetch of "https://example.com/"
    Then the response is a 403 problem with code "permission_denied"
    And the problem gives the reason "host \"example.com\" is not allowed for http_fetch"
    When tenant "fetcher" on the model node authorizes the tool call "memory_get"
    Then the response is a 403 problem with code "permission_denied"
    And the problem gives the reason "tool \"memory_get\" is not allowed"

  @PRS-POL-008 @inprocess
  Scenario: Every tool call decision is audited with the policy revision
    Given a tenant "audited_tools" exists
    When tenant "audited_tools" authorizes the tool call "memory_get"
    And tenant "audited_tools" authorizes http_fetch of "https://example.com/"
    Then tenant "audited_tools" soon has an audit record "tool.authorize" with outcome "success" and the policy revision
    And tenant "audited_tools" soon has an audit record "tool.authorize" with outcome "denied"

  @PRS-WRK-080 @PRS-WRK-081 @inprocess
  Scenario: An agent fetches from an allowed host; a host off the list becomes the tool's error and the run completes
    Given the model node
    And a test web server on 127.0.0.1 saying "hello from the web"
    When tenant "fetcher" on the model node runs an agent with tool "http_fetch" on the input:
      """
      /tool http_fetch {"url": "{web}/page"}
      """
    Then the run completed with an output containing "hello from the web"
    When tenant "fetcher" on the model node runs an agent with tool "http_fetch" on the input:
      """
      /tool http_fetch {"url": "http://localhost:{port}/page"}
      """
    Then the run completed with an output containing "error: policy denied tool http_fetch: host \"localhost\" is not allowed for http_fetch"

  @PRS-WRK-081 @inprocess
  Scenario Outline: http_fetch refuses internal targets, also behind a hostname, unless the policy allows them
    Given the model node
    And a test web server on 127.0.0.1 saying "internal secret"
    When tenant "strict_fetch" on the model node runs an agent with tool "http_fetch" on the input:
      """
      /tool http_fetch {"url": "<url>"}
      """
    Then the run completed with an output containing "error: http_fetch refused <url>: it resolves to an internal address"
    And the test web server received no request

    Examples:
      | url                                      |
      | {web}/page                               |
      | http://10.0.0.1/                         |
      | http://169.254.169.254/latest/meta-data/ |
      | http://localhost:{port}/page             |
