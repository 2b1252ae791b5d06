Feature: Tenancy
  Every request runs in exactly one tenant; in dev mode it is named by X-Tenant-Id.

  @PRS-TEN-001
  Scenario: X-Tenant-Id selects the tenant
    Given a tenant "acme" exists
    When I ask who I am as tenant "acme"
    Then I am tenant "acme" as principal "anonymous" in "dev" mode

  @PRS-TEN-002
  Scenario: A tenant that does not exist is a 404 problem
    When I ask who I am as tenant "never_created"
    Then the request fails with a 404 problem with code "tenant_not_found"

  @PRS-TEN-002
  Scenario: A deleted tenant is a 404 problem
    Given a tenant "short_lived" exists
    And the tenant "short_lived" has been deleted
    When I ask who I am as tenant "short_lived"
    Then the request fails with a 404 problem with code "tenant_not_found"

  @PRS-TEN-003
  Scenario: A tenant-scoped request without credentials is a 401 problem
    When I send "GET" to "/v1/whoami" on the orchestrator
    Then the response is a 401 problem with code "unauthenticated"

  @PRS-TEN-004
  Scenario: The default tenant exists from the first start
    When I ask who I am as the default tenant
    Then I am the default tenant
    And the admin API shows the default tenant
