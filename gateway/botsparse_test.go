package gateway

import "testing"

func TestBotPathParse(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want botPath
		ok   bool
	}{
		{"/v1/bots/acme/conversations", botPath{bot: "acme"}, true},
		{"/v1/bots/acme/conversations?x=1", botPath{bot: "acme"}, true},
		{"/bots/acme/conversations/c_1", botPath{bot: "acme", conv: "c_1"}, true},
		{"/v1/bots/acme/conversations/c_1/messages", botPath{bot: "acme", conv: "c_1", action: "messages"}, true},
		{"/v1/bots/acme/conversations/c_1/resolve", botPath{bot: "acme", conv: "c_1", action: "resolve"}, true},
		{"/v1/bots/acme/conversations/c_1/messages/7/feedback", botPath{bot: "acme", conv: "c_1", action: "feedback", turn: 7}, true},
		{"/v1/bots/acme/conversations/c_1/messages/x/feedback", botPath{}, false},
		{"/v1/bots/acme/conversations/c_1/messages/-1/feedback", botPath{}, false},
		{"/v1/bots/acme/conversations/c_1/other", botPath{}, false},
		{"/v1/bots/acme/conversations/", botPath{}, false},
		{"/v1/bots/acme", botPath{}, false},
		{"/v1/bots//conversations", botPath{}, false},
		{"/v1/bots/acme/conversations/c%ZZ", botPath{}, false},
	} {
		got, ok := parseBotPath(tc.raw)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%s: %+v %v, want %+v %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBotRequestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  func() *APIError
		code string // "" for none
	}{
		{"message", func() *APIError { _, e := parseMessageRequest([]byte(`{"content":"hi","stream":true}`)); return e }, ""},
		{"message unknown field", func() *APIError { _, e := parseMessageRequest([]byte(`{"content":"hi","x":1}`)); return e }, "unknown_parameter"},
		{"message blank", func() *APIError { _, e := parseMessageRequest([]byte(`{"content":"  "}`)); return e }, "missing_required_parameter"},
		{"message not json", func() *APIError { _, e := parseMessageRequest([]byte(`{`)); return e }, "invalid_json"},
		{"feedback", func() *APIError { _, e := parseFeedbackRequest([]byte(`{"rating":"down","comment":"no"}`)); return e }, ""},
		{"feedback bad rating", func() *APIError { _, e := parseFeedbackRequest([]byte(`{"rating":"meh"}`)); return e }, "invalid_value"},
		{"resolve empty", func() *APIError { _, e := parseResolveRequest(nil); return e }, ""},
		{"resolve csat range", func() *APIError { _, e := parseResolveRequest([]byte(`{"csat":6}`)); return e }, "invalid_value"},
		{"create unknown field", func() *APIError { return parseCreateConversation([]byte(`{"user":"x"}`)) }, "unknown_parameter"},
	} {
		e := tc.err()
		switch {
		case tc.code == "" && e != nil:
			t.Errorf("%s: %v", tc.name, e)
		case tc.code != "" && (e == nil || e.Code != tc.code):
			t.Errorf("%s: %v, want %s", tc.name, e, tc.code)
		}
	}
}
