@inprocess
Feature: Configuration
  A mistake in agentos.yaml or an AGENTOS_* variable stops the start with an error that
  names it.

  @PRS-CFG-001
  Scenario Outline: A bad configuration file is refused at start
    Given a configuration file with:
      """
      <yaml>
      """
    When I start agentos serve with that configuration file
    Then the command fails and prints "<message>"

    Examples:
      | yaml                               | message                          |
      | quota_run_create_qpz: 5            | unknown key "quota_run_create_qpz" |
      | shutdown_timeout: soon             | key "shutdown_timeout": invalid duration |
      | auth_mode: oauth                   | auth_mode (AGENTOS_AUTH_MODE)    |
      | jwt_algorithms: [HS256]            | unsupported algorithm "HS256"    |

  @PRS-CFG-001
  Scenario Outline: A bad environment variable is refused at start
    When I start agentos serve with environment "<env>"
    Then the command fails and prints "<message>"

    Examples:
      | env                                  | message                                  |
      | AGENTOS_QUOTA_CONCURRENT_RUNS=many   | AGENTOS_QUOTA_CONCURRENT_RUNS: invalid integer |
      | AGENTOS_MAX_BODY_BYTES=0             | max_body_bytes (AGENTOS_MAX_BODY_BYTES)  |
      | AGENTOS_DEFAULT_TENANT=Bad!          | default_tenant (AGENTOS_DEFAULT_TENANT)  |
