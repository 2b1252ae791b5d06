Feature: Model gateway
  Model Policy speaks the OpenAI API, so the official OpenAI SDK works through it unchanged:
  chat completions, streaming, tool calls, embeddings and model listing, with failover
  across deployments and errors the SDK can read.

  @PRS-MDL-001
  Scenario: The OpenAI SDK gets a chat completion from the builtin model
    When the OpenAI client of the default tenant asks "builtin-chat" to complete "hello gateway"
    Then the completion says "You said: hello gateway"
    And the completion reports its token usage

  @PRS-MDL-002
  Scenario: A streamed completion arrives in chunks and ends with [DONE]
    When I stream a completion of "one two three four" from "builtin-chat" as the default tenant
    Then the stream has more than 3 chunks that spell "You said: one two three four"
    And the stream ends with "data: [DONE]"

  @PRS-MDL-002
  Scenario: include_usage adds a usage chunk the OpenAI SDK reads
    When the OpenAI client of the default tenant streams "count me" from "builtin-chat" with usage
    Then the streamed completion says "You said: count me" and reports its usage

  @PRS-MDL-003
  Scenario: The builtin model calls a tool on cue and answers the tool's result
    When the OpenAI client of the default tenant offers tool "lookup" to "builtin-chat" and says "/tool lookup {\"q\": \"x\"}"
    Then the model calls "lookup" with arguments "{\"q\": \"x\"}"
    When the client sends "42" back as the tool's result
    Then the completion says "The tool returned: 42"

  @PRS-MDL-003
  Scenario: A streamed tool call accumulates in the OpenAI SDK
    When the OpenAI client of the default tenant streams with tool "lookup" from "builtin-chat" saying "/tool lookup {\"q\": \"streamed\"}"
    Then the model calls "lookup" with arguments "{\"q\": \"streamed\"}"

  @PRS-MDL-004
  Scenario: Embeddings of texts that share words are closer
    When the OpenAI client of the default tenant embeds "the cat sat on the mat", "a cat on a mat" and "quarterly tax report" with "builtin-embedding"
    Then it gets 3 embeddings of unit length
    And the first embedding is closer to the second than to the third

  @PRS-MDL-005 @inprocess
  Scenario: The model list shows only what the policy allows
    Given the model node
    When the OpenAI client of tenant "lister" on the model node lists the models
    Then the models are "builtin-chat, builtin-embedding, up-chat, fo-chat, fo-backup, retry-chat"

  @PRS-MDL-006 @inprocess
  Scenario: Unknown request fields reach the upstream untouched
    Given the model node
    When tenant "fwd" on the model node sends a chat completion:
      """
      {"model": "up-chat", "messages": [{"role": "user", "content": "hi", "x_msg": [1]}], "vendor_extension": {"top_k": 5, "list": [1, "a", null]}, "max_tokens": 8}
      """
    Then the response status is 200
    And the upstream received "vendor_extension" as {"top_k": 5, "list": [1, "a", null]}
    And the upstream received "model" as "upstream-model"
    And the upstream received "max_tokens" as 8

  @PRS-MDL-007
  Scenario: An API key authenticates an OpenAI client as its tenant until it is revoked
    Given a tenant "keyed" exists
    And an API key for tenant "keyed"
    When an OpenAI client with that API key asks "builtin-chat" to complete "hi there"
    Then the completion says "You said: hi there"
    When the API key is revoked
    And an OpenAI client with that API key asks "builtin-chat" to complete "hi there"
    Then the OpenAI client gets a 401 error whose message mentions "API key"

  @PRS-MDL-008 @inprocess
  Scenario Outline: A failing upstream is failed over to the fallback model
    Given the model node
    And the first upstream <fails>
    When the OpenAI client of tenant "failover" on the model node asks "fo-chat" to complete "x"
    Then the completion says "w1 w2 w3"
    And the first upstream received 1 request and the second 1

    Examples:
      | fails                |
      | answers 503          |
      | hangs                |
      | drops the connection |

  @PRS-MDL-008 @inprocess
  Scenario: A failing attempt is retried on the same deployment
    Given the model node
    And the first upstream answers 503 once
    When the OpenAI client of tenant "retry" on the model node asks "retry-chat" to complete "x"
    Then the completion says "w1 w2 w3"
    And the first upstream received 2 requests and the second 0

  @PRS-MDL-008 @inprocess
  Scenario: A stream whose first upstream hangs is failed over before its first chunk
    Given the model node
    And the first upstream hangs
    When the OpenAI client of tenant "sfo" on the model node streams "x" from "fo-chat"
    Then the streamed completion says "w1 w2 w3"

  @PRS-MDL-009 @inprocess
  Scenario: A stream that breaks after its first chunk ends with an error the SDK reports
    Given the model node
    And the first upstream breaks streams after 2 chunks
    When the OpenAI client of tenant "broken" on the model node streams "x" from "fo-chat"
    Then the stream delivered 2 chunks and ended with an error mentioning "upstream_error"
    And the first upstream received 1 request and the second 0

  @PRS-MDL-010
  Scenario: The OpenAI SDK reads the gateway's problems
    When the OpenAI client of the default tenant asks "no-such-model" to complete "x"
    Then the OpenAI client gets a 404 error whose message mentions "no-such-model"

  @PRS-MDL-010 @PRS-ERR-004 @PRS-ERR-008
  Scenario Outline: Client mistakes are 4xx problems with an OpenAI error object, never a 5xx
    When I send "POST" to "<path>" on the modelpolicy as tenant with content type "application/json" and body "<body>"
    Then the response is a <status> problem
    And the problem has an OpenAI error message

    Examples:
      | path                 | body                                                                                  | status |
      | /v1/chat/completions | {"model": 5, "messages": []}                                                          | 400    |
      | /v1/chat/completions | {"model": "builtin-chat", "messages": [{"role": "user", "content": "\xff\xfe"}]}        | 400    |
      | /v1/chat/completions | {"model": "builtin-chat", "messages": [{"role": "wizard"}]}                           | 400    |
      | /v1/chat/completions | {"model": "builtin-chat", "messages": [{"role": "user"}], "max_tokens": 0}            | 400    |
      | /v1/chat/completions | {"model": "builtin-embedding", "messages": [{"role": "user", "content": "x"}]}        | 400    |
      | /v1/embeddings       | {"model": "builtin-embedding"}                                                        | 400    |
      | /v1/embeddings       | {"model": "builtin-embedding", "input": "x", "encoding_format": "hex"}                | 400    |
      | /v1/embeddings       | {"model": "builtin-embedding", "input": {"not": "text"}}                              | 400    |
      | /v1/policy:evaluate  | {"operation": "chat.completions", "surprise": 1}                                      | 400    |
      | /v1/chat/completions | {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}            | 404    |

  @PRS-MDL-011 @inprocess
  Scenario: Metrics per provider and deployment
    Given the model node
    When the OpenAI client of tenant "metered" on the model node streams "x" from "up-chat"
    And I fetch the metrics of the model node
    Then the metrics have "agentos_model_time_to_first_token_seconds_bucket" for deployment "up1/upstream-model"
    And the metrics have "agentos_model_upstream_duration_seconds_bucket" for deployment "up1/upstream-model"
    And the metrics have "agentos_model_tokens_total" for deployment "up1/upstream-model"
    And the metrics have "agentos_model_breaker_state" for deployment "up1/upstream-model"
    And the metrics have "agentos_model_upstream_attempts_total" for deployment "up1/upstream-model"

  @PRS-MDL-012 @inprocess
  Scenario: A providers file with an unknown key stops the start
    When I start Model Policy with a providers file:
      """
      providers: [{name: b, type: builtin}]
      models: [{name: m, type: chat, colour: red, deployments: [{provider: b}]}]
      """
    Then the start fails with an error mentioning "colour"
