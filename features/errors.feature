Feature: Problem responses
  Every error, including the router's and the decoder's, is an RFC 9457 problem with a
  stable code and the request id; a client mistake is never a 5xx.

  @PRS-ERR-001 @PRS-ERR-002
  Scenario Outline: An unknown path is a 404 problem on every service
    When I send "GET" to "/v1/does-not-exist" on the <service>
    Then the response is a 404 problem with code "not_found"

    Examples:
      | service      |
      | orchestrator |
      | modelpolicy  |
      | federation   |

  @PRS-ERR-001 @PRS-ERR-003
  Scenario: A wrong method is a 405 problem naming the allowed ones
    When I send "DELETE" to "/v1/health" on the orchestrator
    Then the response is a 405 problem with code "method_not_allowed"
    And the response header "Allow" is "GET"

  @PRS-ERR-001 @PRS-ERR-004
  Scenario: Malformed JSON is a 400 problem
    When I send "PUT" to "/v1/tenants/tnt_malformed" on the orchestrator as admin with body:
      """
      {"display_name": 
      """
    Then the response is a 400 problem with code "invalid_json"

  @PRS-ERR-004
  Scenario: A body that breaks the schema is a 400 problem naming the field
    When I send "PUT" to "/v1/tenants/tnt_schema" on the orchestrator as admin with body:
      """
      {"display_name": 42}
      """
    Then the response is a 400 problem with code "invalid_json"
    And the problem detail mentions "display_name"

  @PRS-ERR-005
  Scenario: A body over the limit is a 413 problem
    When I send a 2000000 byte body with "PUT" to "/v1/tenants/tnt_big" on the orchestrator as admin
    Then the response is a 413 problem with code "body_too_large"

  @PRS-ERR-006 @inprocess
  Scenario: A panic in a handler is a 500 problem and the service keeps serving
    Given the orchestrator's handler will panic on the next request
    When I send "GET" to "/v1/health" on the orchestrator
    Then the response is a 500 problem with code "internal_error"
    When I check the health of the orchestrator
    Then the service reports status "ok" as "orchestrator" with a version

  @PRS-ERR-007
  Scenario: A client's request id is kept and repeated in the problem
    When I send "GET" to "/v1/nothing-here" on the orchestrator with request id "trace-42.a"
    Then the response header "X-Request-Id" is "trace-42.a"
    And the problem's request_id is "trace-42.a"

  @PRS-ERR-007
  Scenario: A request without a request id gets one
    When I send "GET" to "/v1/health" on the federation
    Then the response has a generated request id

  @PRS-ERR-008
  Scenario Outline: Client mistakes are answered with a 4xx problem, never a 5xx
    When I send "<method>" to "<path>" on the orchestrator <as> with content type "<type>" and body "<body>"
    Then the response is a <status> problem

    Examples:
      | method | path                    | as       | type             | body                       | status |
      | GET    | /v1/tenants?limit=0     | as admin | application/json |                            | 400    |
      | GET    | /v1/tenants?limit=abc   | as admin | application/json |                            | 400    |
      | GET    | /v1/tenants?cursor=bogus | as admin | application/json |                            | 400    |
      | GET    | /v1/tenants/UPPER       | as admin | application/json |                            | 400    |
      | PUT    | /v1/tenants/tnt_e1      | as admin | text/plain       | hello                      | 415    |
      | PUT    | /v1/tenants/tnt_e2      | as admin | application/json |                            | 400    |
      | PUT    | /v1/tenants/tnt_e3      | as admin | application/json | []                         | 400    |
      | PUT    | /v1/tenants/tnt_e4      | as admin | application/json | {"quotas":{"invoke_qps":-1}} | 400  |
      | PUT    | /v1/tenants/tnt_e5      | as admin | application/json | {"labels":{"a":1}}         | 400    |
      | PUT    | /v1/tenants/tnt_e6      | as admin | application/json | \xff\xfe                   | 400    |
      | GET    | /v1/whoami              | anonymous | application/json |                           | 401    |
      | POST   | /v1/whoami              | anonymous | application/json | {}                        | 405    |
      | GET    | /v1/tenants             | as tenant | application/json |                           | 401    |
      | PATCH  | /v1/tenants/tnt_demo    | as admin | application/json | {}                         | 405    |
      | GET    | /v1/../../etc/passwd    | anonymous | application/json |                           | 404    |
