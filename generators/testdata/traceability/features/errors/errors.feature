Feature: Errors

  Rule: every error is a problem

    @PRS-ERR-001
    Scenario: a problem body
      When I get "/v1/nope"
      Then the body is a problem

  Scenario Outline: unknown path <path>
    When I get "<path>"
    Then the status is 404

    @PRS-ERR-002
    Examples:
      | path     |
      | /v1/nope |

    Examples: untagged
      | path     |
      | /v2/nope |
