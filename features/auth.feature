@inprocess @jwt
Feature: JWT authentication
  In jwt mode the tenant and principal come from a verified token (RFC 8725: algorithm
  allowlist, required exp, aud and iss), never from X-Tenant-Id alone.

  Background:
    Given a node in jwt mode with a tenant "jwt_tenant"

  @PRS-AUTH-001 @PRS-AUTH-003
  Scenario Outline: Tokens signed with each allowed algorithm are accepted
    When I ask the jwt node who I am with a <alg> token from the <source> with claims:
      | tenant_id | jwt_tenant |
      | sub       | alice      |
    Then I am tenant "jwt_tenant" as principal "alice" in "jwt" mode

    Examples:
      | alg   | source   |
      | RS256 | key file |
      | ES256 | key file |
      | EdDSA | JWKS     |

  @PRS-AUTH-003
  Scenario: tid and principal_id are read when tenant_id is absent, principal_id wins over sub
    When I ask the jwt node who I am with a RS256 token from the key file with claims:
      | tid          | jwt_tenant |
      | principal_id | svc-7      |
      | sub          | ignored    |
    Then I am tenant "jwt_tenant" as principal "svc-7" in "jwt" mode

  @PRS-AUTH-002
  Scenario Outline: Bad tokens are a 401 problem
    When I ask the jwt node who I am with a <kind> token
    Then the request fails with a 401 problem with code "unauthenticated"

    Examples:
      | kind                          |
      | missing                       |
      | garbage                       |
      | expired                       |
      | alg none                      |
      | HS256 signed with public key  |
      | wrong audience                |
      | wrong issuer                  |
      | no exp                        |
      | unknown key                   |

  @PRS-AUTH-002
  Scenario: X-Tenant-Id alone is not accepted in jwt mode
    When I ask the jwt node who I am as tenant "jwt_tenant" without a token
    Then the request fails with a 401 problem with code "unauthenticated"

  @PRS-AUTH-002 @PRS-TEN-002
  Scenario: A valid token for a tenant that does not exist is a 404 problem
    When I ask the jwt node who I am with a RS256 token from the key file with claims:
      | tenant_id | no_such_tenant |
      | sub       | alice          |
    Then the request fails with a 404 problem with code "tenant_not_found"

  @PRS-AUTH-004
  Scenario: A token signed with an algorithm outside the allowlist is a 401 problem
    When I ask the jwt node who I am with a RS512 token from the key file with claims:
      | tenant_id | jwt_tenant |
      | sub       | alice      |
    Then the request fails with a 401 problem with code "unauthenticated"

  @PRS-ADM-001
  Scenario: In jwt mode the admin API needs the admin role
    When I list tenants on the jwt node with a token without the admin role
    Then the request fails with a 403 problem with code "permission_denied"
    When I list tenants on the jwt node with a token with the admin role
    Then the tenant list contains "jwt_tenant"
