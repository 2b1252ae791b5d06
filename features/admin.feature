Feature: Tenant administration
  Operators manage tenants with the admin credential.

  @PRS-ADM-001
  Scenario Outline: The admin API refuses callers without the admin credential
    When I list tenants <credential>
    Then the request fails with a 401 problem with code "unauthenticated"

    Examples:
      | credential                  |
      | without credentials         |
      | with admin token "wrong-token-0000000000" |
      | as tenant "tnt_demo"        |

  @PRS-ADM-002
  Scenario: Create, replace, read, list and delete a tenant
    When I put tenant "lifecycle" with display name "Lifecycle Inc" and label "tier" = "gold"
    Then the tenant was created
    And tenant "lifecycle" has display name "Lifecycle Inc" and label "tier" = "gold"
    When I put tenant "lifecycle" with display name "Lifecycle Ltd" and label "tier" = "silver"
    Then the tenant was replaced
    And tenant "lifecycle" has display name "Lifecycle Ltd" and label "tier" = "silver"
    When I delete tenant "lifecycle"
    Then getting tenant "lifecycle" fails with a 404 problem with code "tenant_not_found"
    And deleting tenant "lifecycle" again fails with a 404 problem with code "tenant_not_found"

  @PRS-ADM-002
  Scenario: Listing pages through tenants in id order
    Given tenants "page_a", "page_b", "page_c", "page_d" and "page_e" exist
    When I list every tenant 2 at a time
    Then every page had at most 2 tenants
    And the listing holds "page_a", "page_b", "page_c", "page_d" and "page_e" in id order without repeats

  @PRS-ADM-002
  Scenario: Per-tenant quota overrides are kept
    When I put tenant "quota_t" with quotas run_create_qps 3 and concurrent_runs 4
    Then tenant "quota_t" has quotas run_create_qps 3 and concurrent_runs 4

  @PRS-ADM-003
  Scenario Outline: Invalid input is a 400 problem naming the field
    When I send "PUT" to "<path>" on the orchestrator as admin with body:
      """
      <body>
      """
    Then the response is a 400 problem
    And the problem detail mentions "<field>"

    Examples:
      | path                   | body                                    | field        |
      | /v1/tenants/Not_Valid  | {}                                      | tenant_id    |
      | /v1/tenants/x          | {}                                      | tenant_id    |
      | /v1/tenants/tnt_long   | {"display_name": "<201 chars>"}         | display_name |
      | /v1/tenants/tnt_quota  | {"quotas": {"concurrent_runs": -5}}     | concurrent_runs |

  @PRS-ADM-002
  Scenario: The default tenant cannot be deleted
    When I delete the default tenant
    Then the request fails with a 409 problem with code "conflict"

  @PRS-ADM-004
  Scenario: The CLI manages tenants
    When I run agentos "tenants create {cli_made} --display-name CLI --label team=ops"
    Then the command succeeds and prints "created tenant"
    When I run agentos "tenants list"
    Then the command succeeds and prints the tenant "cli_made"
    When I run agentos "tenants get {cli_made}"
    Then the command succeeds and prints "\"display_name\":\"CLI\""
    When I run agentos "tenants delete {cli_made}"
    Then the command succeeds and prints "deleted tenant"
    When I run agentos "tenants get {cli_made}"
    Then the command fails and prints "tenant_not_found"
