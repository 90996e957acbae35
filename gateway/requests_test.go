package gateway

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/infergate/infergate/grammar"
	"github.com/infergate/infergate/llm"
)

func TestParseChatRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string // "" with wantCode "" means success
		wantCode  string
		check     func(t *testing.T, r *chatRequest)
	}{
		{name: "minimal", body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			check: func(t *testing.T, r *chatRequest) {
				want := []llm.Message{{Role: "user", Content: "hi"}}
				if r.Model != "m" || !reflect.DeepEqual(r.Messages, want) {
					t.Errorf("got %+v", r)
				}
				if r.Sampling.Temperature != 1 || r.MaxTokens != 0 || r.Stream {
					t.Errorf("defaults: %+v", r.genParams)
				}
			}},
		{name: "unknown fields ignored", body: `{"model":"m","messages":[{"role":"user","content":"hi","name":"bob","extra":{"x":1}}],"store":true,"metadata":{"a":"b"},"service_tier":"auto","reasoning_effort":"low","parallel_tool_calls":true}`},
		{name: "null values mean unset", body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"stop":null,"n":null,"max_tokens":null,"response_format":null,"stream_options":null}`,
			check: func(t *testing.T, r *chatRequest) {
				if r.Sampling.Temperature != 1 || r.Stop != nil {
					t.Errorf("got %+v", r.genParams)
				}
			}},
		{name: "content parts", body: `{"messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"developer","content":"d"},{"role":"assistant","content":null},{"role":"user","content":"q"}]}`,
			check: func(t *testing.T, r *chatRequest) {
				want := []llm.Message{{Role: "system", Content: "a\nb"}, {Role: "system", Content: "d"}, {Role: "assistant", Content: ""}, {Role: "user", Content: "q"}}
				if !reflect.DeepEqual(r.Messages, want) {
					t.Errorf("got %+v", r.Messages)
				}
			}},
		{name: "sampling", body: `{"messages":[{"role":"user","content":"x"}],"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"repeat_penalty":1.1,"frequency_penalty":-1,"presence_penalty":2,"seed":42,"max_completion_tokens":7,"max_tokens":9,"stop":["a","","b"],"stream":true,"stream_options":{"include_usage":true},"n":1,"user":"u","ignore_eos":true}`,
			check: func(t *testing.T, r *chatRequest) {
				s := r.Sampling
				if s.Temperature != 0.5 || s.TopP != 0.9 || s.TopK != 40 || s.MinP != 0.05 || s.RepeatPenalty != 1.1 ||
					s.FrequencyPenalty != -1 || s.PresencePenalty != 2 || !s.HasSeed || s.Seed != 42 {
					t.Errorf("sampling %+v", s)
				}
				if r.MaxTokens != 7 || !reflect.DeepEqual(r.Stop, []string{"a", "b"}) || !r.Stream || !r.IncludeUsage || !r.IgnoreEOS {
					t.Errorf("got %+v", r.genParams)
				}
			}},
		{name: "top_p zero is greedy", body: `{"messages":[{"role":"user","content":"x"}],"top_p":0}`,
			check: func(t *testing.T, r *chatRequest) {
				if r.Sampling.Temperature != 0 {
					t.Errorf("temperature %v", r.Sampling.Temperature)
				}
			}},
		{name: "integral float accepted", body: `{"messages":[{"role":"user","content":"x"}],"max_tokens":5.0,"seed":1e3}`,
			check: func(t *testing.T, r *chatRequest) {
				if r.MaxTokens != 5 || r.Sampling.Seed != 1000 {
					t.Errorf("got %+v", r.genParams)
				}
			}},
		{name: "stop string", body: `{"messages":[{"role":"user","content":"x"}],"stop":"\n"}`,
			check: func(t *testing.T, r *chatRequest) {
				if !reflect.DeepEqual(r.Stop, []string{"\n"}) {
					t.Errorf("stop %q", r.Stop)
				}
			}},
		{name: "json_object", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`,
			check: func(t *testing.T, r *chatRequest) {
				if r.Sampling.Grammar != grammar.JSONObject {
					t.Errorf("grammar %q", r.Sampling.Grammar)
				}
				if r.Sampling.ResponseFormat != `{"type":"json_object"}` {
					t.Errorf("response_format kept as %q", r.Sampling.ResponseFormat)
				}
			}},
		{name: "json_schema", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}}}`,
			check: func(t *testing.T, r *chatRequest) {
				if !strings.Contains(r.Sampling.Grammar, `"\"a\""`) {
					t.Errorf("grammar %q", r.Sampling.Grammar)
				}
			}},
		{name: "json_schema beyond llama.cpp's repetition limit", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"string","maxLength":5000}}}}`,
			check: func(t *testing.T, r *chatRequest) {
				if err := grammar.Check(r.Sampling.Grammar); err != nil {
					t.Errorf("grammar: %v", err)
				}
			}},
		{name: "text format", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}}`},
		{name: "tool_choice none", body: `{"messages":[{"role":"user","content":"x"}],"tools":[],"tool_choice":"none"}`},

		{name: "empty body", body: ``, wantCode: "invalid_json"},
		{name: "not an object", body: `[1]`, wantCode: "invalid_json"},
		{name: "broken json", body: `{"messages":`, wantCode: "invalid_json"},
		{name: "trailing garbage", body: `{"messages":[]} x`, wantCode: "invalid_json"},
		{name: "missing messages", body: `{"model":"m"}`, wantParam: "messages", wantCode: "missing_required_parameter"},
		{name: "empty messages", body: `{"messages":[]}`, wantParam: "messages", wantCode: "invalid_value"},
		{name: "messages not array", body: `{"messages":"hi"}`, wantParam: "messages", wantCode: "invalid_type"},
		{name: "model wrong type", body: `{"model":3,"messages":[{"role":"user","content":"x"}]}`, wantParam: "model", wantCode: "invalid_type"},
		{name: "message not object", body: `{"messages":["hi"]}`, wantParam: "messages[0]", wantCode: "invalid_type"},
		{name: "missing role", body: `{"messages":[{"content":"x"}]}`, wantParam: "messages[0].role", wantCode: "missing_required_parameter"},
		{name: "bad role", body: `{"messages":[{"role":"robot","content":"x"}]}`, wantParam: "messages[0].role", wantCode: "invalid_value"},
		{name: "tool role", body: `{"messages":[{"role":"tool","content":"x"}]}`, wantParam: "messages[0].role", wantCode: "unsupported_value"},
		{name: "missing content", body: `{"messages":[{"role":"user"}]}`, wantParam: "messages[0].content", wantCode: "missing_required_parameter"},
		{name: "content number", body: `{"messages":[{"role":"user","content":"a"},{"role":"user","content":5}]}`, wantParam: "messages[1].content", wantCode: "invalid_type"},
		{name: "part not object", body: `{"messages":[{"role":"user","content":["x"]}]}`, wantParam: "messages[0].content[0]", wantCode: "invalid_type"},
		{name: "part text wrong type", body: `{"messages":[{"role":"user","content":[{"type":"text","text":1}]}]}`, wantParam: "messages[0].content[0].text", wantCode: "invalid_type"},
		{name: "image part", body: `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, wantParam: "messages[0].content[0].type", wantCode: "unsupported_value"},
		{name: "temperature string", body: `{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, wantParam: "temperature", wantCode: "invalid_type"},
		{name: "temperature range", body: `{"messages":[{"role":"user","content":"x"}],"temperature":3}`, wantParam: "temperature", wantCode: "invalid_value"},
		{name: "top_p range", body: `{"messages":[{"role":"user","content":"x"}],"top_p":1.5}`, wantParam: "top_p", wantCode: "invalid_value"},
		{name: "max_tokens zero", body: `{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, wantParam: "max_tokens", wantCode: "invalid_value"},
		{name: "max_tokens fraction", body: `{"messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, wantParam: "max_tokens", wantCode: "invalid_type"},
		{name: "max_completion_tokens bool", body: `{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":true}`, wantParam: "max_completion_tokens", wantCode: "invalid_type"},
		{name: "n=2", body: `{"messages":[{"role":"user","content":"x"}],"n":2}`, wantParam: "n", wantCode: "unsupported_value"},
		{name: "stream not bool", body: `{"messages":[{"role":"user","content":"x"}],"stream":"yes"}`, wantParam: "stream", wantCode: "invalid_type"},
		{name: "stream_options without stream", body: `{"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, wantParam: "stream_options", wantCode: "invalid_value"},
		{name: "include_usage type", body: `{"messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":1}}`, wantParam: "stream_options.include_usage", wantCode: "invalid_type"},
		{name: "stop number", body: `{"messages":[{"role":"user","content":"x"}],"stop":1}`, wantParam: "stop", wantCode: "invalid_type"},
		{name: "stop element", body: `{"messages":[{"role":"user","content":"x"}],"stop":["a",2]}`, wantParam: "stop[1]", wantCode: "invalid_type"},
		{name: "too many stops", body: `{"messages":[{"role":"user","content":"x"}],"stop":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"]}`, wantParam: "stop", wantCode: "invalid_value"},
		{name: "tools", body: `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, wantParam: "tools", wantCode: "unsupported_parameter"},
		{name: "tool_choice required", body: `{"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`, wantParam: "tool_choice", wantCode: "unsupported_parameter"},
		{name: "assistant tool_calls", body: `{"messages":[{"role":"assistant","tool_calls":[{"id":"1"}]}]}`, wantParam: "messages[0].tool_calls", wantCode: "unsupported_parameter"},
		{name: "logprobs", body: `{"messages":[{"role":"user","content":"x"}],"logprobs":true}`, wantParam: "logprobs", wantCode: "unsupported_value"},
		{name: "logit_bias", body: `{"messages":[{"role":"user","content":"x"}],"logit_bias":{"50256":-100}}`, wantParam: "logit_bias", wantCode: "unsupported_parameter"},
		{name: "empty logit_bias ok", body: `{"messages":[{"role":"user","content":"x"}],"logit_bias":{ }}`},
		{name: "audio modality", body: `{"messages":[{"role":"user","content":"x"}],"modalities":["text","audio"]}`, wantParam: "modalities[1]", wantCode: "unsupported_value"},
		{name: "response_format type", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, wantParam: "response_format.type", wantCode: "invalid_value"},
		{name: "response_format missing type", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{}}`, wantParam: "response_format.type", wantCode: "missing_required_parameter"},
		{name: "json_schema missing", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}`, wantParam: "response_format.json_schema", wantCode: "missing_required_parameter"},
		{name: "json_schema unsupported", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"string","pattern":"^a+$"}}}}`, wantParam: "response_format", wantCode: "unsupported_value"},
		{name: "json_schema left recursion", body: `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"$ref":"#"}}}}`, wantParam: "response_format", wantCode: "unsupported_value"},
		{name: "seed string", body: `{"messages":[{"role":"user","content":"x"}],"seed":"1"}`, wantParam: "seed", wantCode: "invalid_type"},
		{name: "user number", body: `{"messages":[{"role":"user","content":"x"}],"user":1}`, wantParam: "user", wantCode: "invalid_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, e := parseChatRequest([]byte(tc.body), parseLimits{})
			checkParse(t, e, tc.wantParam, tc.wantCode)
			if e == nil && tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func checkParse(t *testing.T, e *APIError, wantParam, wantCode string) {
	t.Helper()
	if wantCode == "" {
		if e != nil {
			t.Fatalf("unexpected error: %v", e)
		}
		return
	}
	if e == nil {
		t.Fatalf("want error %s (param %q), got none", wantCode, wantParam)
	}
	if e.Status != 400 || e.Type != TypeInvalidRequest || e.Code != wantCode || e.Param != wantParam {
		t.Fatalf("got %d %s code=%s param=%q (%s); want code=%s param=%q", e.Status, e.Type, e.Code, e.Param, e.Message, wantCode, wantParam)
	}
	if !strings.Contains(e.Message, wantParam) && wantParam != "" && e.Code != "unsupported_value" && e.Code != "unsupported_parameter" {
		t.Errorf("message %q does not name %q", e.Message, wantParam)
	}
}

func TestParseChatLimits(t *testing.T) {
	msgs := strings.Repeat(`{"role":"user","content":"x"},`, 5)
	body := `{"messages":[` + strings.TrimSuffix(msgs, ",") + `]}`
	if _, e := parseChatRequest([]byte(body), parseLimits{MaxMessages: 5}); e != nil {
		t.Fatal(e)
	}
	_, e := parseChatRequest([]byte(body), parseLimits{MaxMessages: 4})
	checkParse(t, e, "messages", "invalid_value")
}

func TestParseCompletionRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantCode  string
		want      []prompt
		maxTokens int
	}{
		{name: "string", body: `{"model":"m","prompt":"Once"}`, want: []prompt{{Text: "Once"}}, maxTokens: 16},
		{name: "strings", body: `{"prompt":["a","b"],"max_tokens":3}`, want: []prompt{{Text: "a"}, {Text: "b"}}, maxTokens: 3},
		{name: "tokens", body: `{"prompt":[1,2,3]}`, want: []prompt{{Tokens: []int32{1, 2, 3}}}, maxTokens: 16},
		{name: "token arrays", body: `{"prompt":[[1],[2,3]]}`, want: []prompt{{Tokens: []int32{1}}, {Tokens: []int32{2, 3}}}, maxTokens: 16},
		{name: "echo and options", body: `{"prompt":"x","echo":true,"best_of":1,"logprobs":0,"suffix":"","temperature":0}`, want: []prompt{{Text: "x"}}, maxTokens: 16},

		{name: "missing prompt", body: `{"model":"m"}`, wantParam: "prompt", wantCode: "missing_required_parameter"},
		{name: "empty prompt", body: `{"prompt":""}`, wantParam: "prompt", wantCode: "invalid_value"},
		{name: "prompt object", body: `{"prompt":{}}`, wantParam: "prompt", wantCode: "invalid_type"},
		{name: "empty array", body: `{"prompt":[]}`, wantParam: "prompt", wantCode: "invalid_value"},
		{name: "mixed", body: `{"prompt":["a",1]}`, wantParam: "prompt[1]", wantCode: "invalid_type"},
		{name: "negative token", body: `{"prompt":[1,-2]}`, wantParam: "prompt[1]", wantCode: "invalid_value"},
		{name: "fraction token", body: `{"prompt":[1.5]}`, wantParam: "prompt[0]", wantCode: "invalid_type"},
		{name: "empty token array", body: `{"prompt":[[1],[]]}`, wantParam: "prompt[1]", wantCode: "invalid_value"},
		{name: "too many prompts", body: `{"prompt":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"]}`, wantParam: "prompt", wantCode: "invalid_value"},
		{name: "suffix", body: `{"prompt":"x","suffix":"y"}`, wantParam: "suffix", wantCode: "unsupported_parameter"},
		{name: "best_of", body: `{"prompt":"x","best_of":2}`, wantParam: "best_of", wantCode: "unsupported_value"},
		{name: "logprobs", body: `{"prompt":"x","logprobs":2}`, wantParam: "logprobs", wantCode: "unsupported_value"},
		{name: "echo type", body: `{"prompt":"x","echo":"yes"}`, wantParam: "echo", wantCode: "invalid_type"},
		{name: "n", body: `{"prompt":"x","n":3}`, wantParam: "n", wantCode: "unsupported_value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, e := parseCompletionRequest([]byte(tc.body), parseLimits{})
			checkParse(t, e, tc.wantParam, tc.wantCode)
			if e != nil {
				return
			}
			if !reflect.DeepEqual(r.Prompts, tc.want) || r.MaxTokens != tc.maxTokens {
				t.Errorf("got %+v max %d", r.Prompts, r.MaxTokens)
			}
		})
	}
}

func TestParseEmbeddingRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantCode  string
		check     func(t *testing.T, r *embeddingRequest)
	}{
		{name: "string", body: `{"model":"e","input":"hello"}`, check: func(t *testing.T, r *embeddingRequest) {
			if !reflect.DeepEqual(r.Texts, []string{"hello"}) || r.Base64 || r.Dimensions != 0 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "strings base64", body: `{"input":["a","b"],"encoding_format":"base64","dimensions":384,"user":"u"}`, check: func(t *testing.T, r *embeddingRequest) {
			if !reflect.DeepEqual(r.Texts, []string{"a", "b"}) || !r.Base64 || r.Dimensions != 384 {
				t.Errorf("%+v", r)
			}
		}},
		{name: "tokens", body: `{"input":[1,2]}`, check: func(t *testing.T, r *embeddingRequest) {
			if !reflect.DeepEqual(r.Tokens, [][]int32{{1, 2}}) {
				t.Errorf("%+v", r)
			}
		}},
		{name: "token arrays", body: `{"input":[[1],[2]],"truncate":true}`, check: func(t *testing.T, r *embeddingRequest) {
			if !reflect.DeepEqual(r.Tokens, [][]int32{{1}, {2}}) || !r.Truncate {
				t.Errorf("%+v", r)
			}
		}},
		{name: "missing input", body: `{"model":"e"}`, wantParam: "input", wantCode: "missing_required_parameter"},
		{name: "empty string", body: `{"input":""}`, wantParam: "input", wantCode: "invalid_value"},
		{name: "empty element", body: `{"input":["a",""]}`, wantParam: "input[1]", wantCode: "invalid_value"},
		{name: "number input", body: `{"input":5}`, wantParam: "input", wantCode: "invalid_type"},
		{name: "object element", body: `{"input":[{}]}`, wantParam: "input[0]", wantCode: "invalid_type"},
		{name: "encoding", body: `{"input":"a","encoding_format":"int8"}`, wantParam: "encoding_format", wantCode: "invalid_value"},
		{name: "dimensions type", body: `{"input":"a","dimensions":"384"}`, wantParam: "dimensions", wantCode: "invalid_type"},
		{name: "dimensions zero", body: `{"input":"a","dimensions":0}`, wantParam: "dimensions", wantCode: "invalid_value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, e := parseEmbeddingRequest([]byte(tc.body), parseLimits{})
			checkParse(t, e, tc.wantParam, tc.wantCode)
			if e == nil && tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	many := `{"input":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 3), ",") + `]}`
	_, e := parseEmbeddingRequest([]byte(many), parseLimits{MaxInputs: 2})
	checkParse(t, e, "input", "invalid_value")
}

func TestErrorBody(t *testing.T) {
	e := errType("messages[0].content", "a string", "a number")
	var got apiErr
	if err := json.Unmarshal(e.appendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	if got.Error.Type != TypeInvalidRequest || *got.Error.Param != "messages[0].content" || *got.Error.Code != "invalid_type" ||
		got.Error.Message != "Invalid type for 'messages[0].content': expected a string, but got a number instead." {
		t.Errorf("%+v", got)
	}
	// Absent param and code are JSON null, as in OpenAI's errors.
	if s := string(errInternal(nil).appendJSON(nil)); !strings.Contains(s, `"param":null`) {
		t.Errorf("%s", s)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\n\r\t", "üñí€😀", "bad\xff\xfeutf8", "\u2028\u2029", "<html>&"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: round trip %q, encoding/json gives %q", s, back, wantBack)
		}
	}
}

func TestAppendFloat32(t *testing.T) {
	for _, f := range []float32{0, 1, -1, 0.1, 1e-7, -3.4028235e38, 123456.78, 1e21, 5e-324} {
		got := string(appendFloat32(nil, f))
		want, _ := json.Marshal(f)
		if got != string(want) {
			t.Errorf("%v: got %s, encoding/json %s", f, got, want)
		}
	}
}
