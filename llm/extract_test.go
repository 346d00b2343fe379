package llm

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExtractSQL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // expected SQL; "" when an error is expected
		code Code   // expected error code
	}{
		// Plain answers.
		{name: "bare select", in: "SELECT id, name FROM customers LIMIT 10",
			want: "SELECT id, name FROM customers LIMIT 10"},
		{name: "bare select with semicolon and whitespace", in: "\n\n  SELECT 1;  \n\n",
			want: "SELECT 1;"},
		{name: "lowercase select", in: "select count(*) from orders where status = 'paid';",
			want: "select count(*) from orders where status = 'paid';"},
		{name: "with query", in: "WITH recent AS (\n  SELECT * FROM orders WHERE created_at > now() - interval '7 days'\n)\nSELECT count(*) FROM recent;",
			want: "WITH recent AS (\n  SELECT * FROM orders WHERE created_at > now() - interval '7 days'\n)\nSELECT count(*) FROM recent;"},
		{name: "lowercase recursive with", in: "with recursive t(n) as (select 1 union all select n+1 from t where n < 5) select * from t",
			want: "with recursive t(n) as (select 1 union all select n+1 from t where n < 5) select * from t"},
		{name: "leading comment", in: "-- top customers by revenue\nSELECT customer_id, sum(total) FROM orders GROUP BY 1 ORDER BY 2 DESC LIMIT 5;",
			want: "-- top customers by revenue\nSELECT customer_id, sum(total) FROM orders GROUP BY 1 ORDER BY 2 DESC LIMIT 5;"},
		{name: "leading block comment", in: "/* revenue */ SELECT sum(total) FROM orders",
			want: "/* revenue */ SELECT sum(total) FROM orders"},
		{name: "label SQL:", in: "SQL: SELECT name FROM products WHERE price > 100",
			want: "SELECT name FROM products WHERE price > 100"},
		{name: "bold markdown label", in: "**SQL:** SELECT 42 AS answer;",
			want: "SELECT 42 AS answer;"},
		{name: "parenthesised select", in: "(SELECT 1) UNION (SELECT 2)",
			want: "(SELECT 1) UNION (SELECT 2)"},
		{name: "CRLF and BOM", in: "\ufeffSELECT a,\r\n       b\r\nFROM t;\r\n",
			want: "SELECT a,\n       b\nFROM t;"},

		// Fences.
		{name: "sql fence", in: "```sql\nSELECT * FROM users WHERE active;\n```",
			want: "SELECT * FROM users WHERE active;"},
		{name: "fence without language", in: "```\nSELECT 1 AS one\n```",
			want: "SELECT 1 AS one"},
		{name: "tilde fence", in: "~~~postgresql\nSELECT now();\n~~~",
			want: "SELECT now();"},
		{name: "uppercase language and longer fence", in: "````SQL\nSELECT 2;\n````",
			want: "SELECT 2;"},
		{name: "prose around a fence", in: "Here is the query you asked for:\n\n```sql\nSELECT id FROM t\nWHERE x = 1;\n```\n\nThis returns the ids of the rows where x is 1.",
			want: "SELECT id FROM t\nWHERE x = 1;"},
		{name: "several fences: the last SQL one wins", in: "First attempt:\n```sql\nSELECT nme FROM users;\n```\nOops, the column is name. Corrected:\n```sql\nSELECT name FROM users;\n```",
			want: "SELECT name FROM users;"},
		{name: "non-SQL fences are skipped", in: "```sql\nSELECT count(*) FROM users;\n```\nExample output:\n```\n count\n-------\n    42\n```\nAnd in Python:\n```python\ncur.execute(\"SELECT 1\")\n```",
			want: "SELECT count(*) FROM users;"},
		{name: "unterminated fence with trailing prose", in: "```sql\nSELECT id FROM orders WHERE total > 100;\n\nThis query finds the big orders",
			want: "SELECT id FROM orders WHERE total > 100;"},
		{name: "unterminated fence cut by max tokens", in: "```sql\nSELECT id, name\nFROM customers\nWHERE",
			want: "SELECT id, name\nFROM customers\nWHERE"},
		{name: "second fence opened before the first closed", in: "```sql\nSELECT 1\n```sql\nSELECT 2\n```",
			want: "SELECT 2"},
		{name: "language on its own line", in: "```\nsql\nSELECT 3;\n```",
			want: "SELECT 3;"},
		{name: "one-line fence", in: "```sql SELECT * FROM t```",
			want: "SELECT * FROM t"},
		{name: "indented fence in a list", in: "1. Run this:\n   ```sql\n   SELECT 5;\n   ```",
			want: "SELECT 5;"},
		{name: "fence content keeps semicolons and comments", in: "```sql\n-- one\nSELECT 1;\n-- two\nSELECT 2;\n```",
			want: "-- one\nSELECT 1;\n-- two\nSELECT 2;"},

		// JSON.
		{name: "json object", in: `{"sql": "SELECT id FROM users"}`, want: "SELECT id FROM users"},
		{name: "json with escaped newlines and extra keys", in: `{"explanation": "counts users", "sql": "SELECT count(*)\nFROM users\nWHERE active;", "confidence": 0.9}`,
			want: "SELECT count(*)\nFROM users\nWHERE active;"},
		{name: "json in a fence", in: "```json\n{\n  \"sql\": \"SELECT 1\",\n  \"explanation\": \"one\"\n}\n```",
			want: "SELECT 1"},
		{name: "json in prose", in: "Sure! Here you go: {\"query\": \"SELECT name FROM t\"} Hope it helps.",
			want: "SELECT name FROM t"},
		{name: "json whose sql is fenced", in: `{"sql": "` + "```sql\\nSELECT 7;\\n```" + `"}`, want: "SELECT 7;"},
		{name: "json with uppercase key", in: `{"SQL": "SELECT 8"}`, want: "SELECT 8"},
		{name: "json null sql is a refusal", in: `{"sql": null, "error": "The schema has no table about weather."}`,
			code: CodeRefused},
		{name: "json empty sql is a refusal", in: `{"sql": "", "explanation": "cannot be answered"}`, code: CodeRefused},
		{name: "json whose sql is a refusal", in: `{"sql": "I'm sorry, I cannot answer that from this schema."}`, code: CodeRefused},
		{name: "json whose sql is not SQL", in: `{"sql": "N/A"}`, code: CodeBadOutput},
		{name: "json with lowercase utility statement", in: `{"sql": "show timezone"}`, want: "show timezone"},
		{name: "json error only is a refusal", in: `{"error": "I cannot write data-modifying queries."}`, code: CodeRefused},

		// Reasoning and template noise.
		{name: "think block with drafts", in: "<think>\nMaybe ```sql\nSELECT * FROM wrong;\n``` no...\nSELECT bad FROM x;\n</think>\n\n```sql\nSELECT good FROM x;\n```",
			want: "SELECT good FROM x;"},
		{name: "think block then bare SQL", in: "<think>The user wants counts. SELECT count(*) maybe.</think>\nSELECT count(*) FROM users;",
			want: "SELECT count(*) FROM users;"},
		{name: "lone closing think tag", in: "Okay, I need users. SELECT * FROM draft;\n</think>\nSELECT * FROM users;",
			want: "SELECT * FROM users;"},
		{name: "unterminated think only", in: "<think>\nLet me think about SELECT ... FROM", code: CodeBadOutput},
		{name: "chat template tokens", in: "SELECT 1;<|im_end|>", want: "SELECT 1;"},
		{name: "harmony channels", in: "<|channel|>analysis<|message|>Need SELECT draft<|end|><|start|>assistant<|channel|>final<|message|>SELECT 9;",
			want: "SELECT 9;"},

		// Prose.
		{name: "trailing explanation after semicolon", in: "SELECT name, email FROM customers WHERE country = 'FR';\n\nThis query returns the name and email of French customers; it uses the country column.",
			want: "SELECT name, email FROM customers WHERE country = 'FR';"},
		{name: "trailing explanation without semicolon", in: "SELECT name\nFROM customers\nORDER BY name\n\nThis lists every customer by name.",
			want: "SELECT name\nFROM customers\nORDER BY name"},
		{name: "explanation right under the SQL", in: "SELECT 1\nThis returns one.", want: "SELECT 1"},
		{name: "prose on the same line after semicolon", in: "SELECT 1; This returns one row.", want: "SELECT 1;"},
		{name: "prose before unfenced SQL", in: "Here is the query:\nSELECT id FROM t WHERE a = 'it''s';\nIt returns the id.",
			want: "SELECT id FROM t WHERE a = 'it''s';"},
		{name: "prose before with a colon on the same line", in: "The query is: SELECT count(*) FROM users", want: "SELECT count(*) FROM users"},
		{name: "several statements are all returned", in: "SELECT 1;\nDROP TABLE users;\n\nDone.", want: "SELECT 1;\nDROP TABLE users;"},
		{name: "semicolon inside a string is not the end", in: "SELECT 'a; b' AS x, $$c; d$$ AS y; -- fine\n\nExplanation: two literals.",
			want: "SELECT 'a; b' AS x, $$c; d$$ AS y; -- fine"},
		{name: "blank lines inside the SQL", in: "SELECT a\n\nFROM t\n\nWHERE b\n\n  AND c;",
			want: "SELECT a\n\nFROM t\n\nWHERE b\n\n  AND c;"},
		{name: "inline code", in: "You can use `SELECT count(*) FROM orders` to count them.", want: "SELECT count(*) FROM orders"},
		{name: "html", in: "<p>Here is the query:</p>\n<pre><code class=\"language-sql\">SELECT * FROM t WHERE a &gt; 1 AND b &lt;&gt; 'x';</code></pre>",
			want: "SELECT * FROM t WHERE a > 1 AND b <> 'x';"},
		{name: "xml sql tag", in: "<sql>\nSELECT 4;\n</sql>", want: "SELECT 4;"},
		{name: "html paragraph noise", in: "<p>SELECT 6 AS six;</p>", want: "SELECT 6 AS six;"},
		{name: "comparison is not a tag", in: "SELECT * FROM t WHERE a <b AND c> d", want: "SELECT * FROM t WHERE a <b AND c> d"},
		{name: "markdown heading after SQL", in: "SELECT 1\n## Explanation\nOne.", want: "SELECT 1"},
		{name: "prose that starts with a keyword is not SQL", in: "Select a table first, then ask again.", code: CodeBadOutput},
		{name: "with in prose is not SQL", in: "With this schema I would need more details about what you want.", code: CodeBadOutput},

		{name: "bold explanation heading after SQL", in: "Sure! Here's the SQL query:\n\nSELECT id,\n       name\nFROM users;\n\n**Explanation:**\n- `SELECT` picks columns;\n- `FROM` names the table.",
			want: "SELECT id,\n       name\nFROM users;"},
		{name: "comment-only last fence is skipped", in: "```sql\nSELECT 11;\n```\nNo other query is needed:\n```sql\n-- nothing else\n```", want: "SELECT 11;"},
		{name: "numbered explanation right under the SQL", in: "SELECT 1 AS a\n1. The first column is a.", want: "SELECT 1 AS a"},
		{name: "label on its own line", in: "Answer:\nSELECT 12;", want: "SELECT 12;"},
		{name: "prose starting with a keyword, then SQL", in: "Select the rows you need.\nSELECT * FROM t;", want: "SELECT * FROM t;"},
		{name: "indented code block", in: "The SQL query is:\n\n    SELECT *\n    FROM t\n\nThat's all.", want: "SELECT *\n    FROM t"},
		{name: "lost language tag", in: "sql\nSELECT 13;", want: "SELECT 13;"},
		{name: "dollar-quoted body with blank line and prose-like text", in: "SELECT $$\n\nThis is text.\n$$ AS t;", want: "SELECT $$\n\nThis is text.\n$$ AS t;"},

		// Refusals and garbage.
		{name: "refusal: sorry", in: "I'm sorry, but I cannot help with that request.", code: CodeRefused},
		{name: "refusal: can't", in: "I can't help with that.", code: CodeRefused},
		{name: "refusal: as an AI", in: "As an AI language model, I do not have access to your database.", code: CodeRefused},
		{name: "refusal: missing data", in: "The database does not contain any information about the weather, so this question cannot be answered.", code: CodeRefused},
		{name: "refusal with a non-SQL fence", in: "I'm unable to write that query.\n```\nnot possible\n```", code: CodeRefused},
		{name: "apology with SQL is SQL", in: "Sorry for the confusion! Here's the fixed query:\n```sql\nSELECT 10;\n```", want: "SELECT 10;"},
		{name: "cannot run but here is SQL", in: "I cannot run queries myself, but you can use:\nSELECT * FROM users LIMIT 5;", want: "SELECT * FROM users LIMIT 5;"},
		{name: "empty", in: "", code: CodeBadOutput},
		{name: "whitespace", in: " \n\t ", code: CodeBadOutput},
		{name: "prose only", in: "The answer is 42.", code: CodeBadOutput},
		{name: "json without sql", in: `{"answer": 42}`, code: CodeBadOutput},
		{name: "python fence only", in: "```python\nprint('hi')\n```", code: CodeBadOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExtractSQL(tt.in)
			if tt.code != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("ExtractSQL(%q) = %q, %v; want error %s", tt.in, got, err, tt.code)
				}
				if e.Code != tt.code {
					t.Fatalf("ExtractSQL(%q) code = %s (%s); want %s", tt.in, e.Code, e.Message, tt.code)
				}
				if got != "" {
					t.Errorf("ExtractSQL(%q) returned %q with an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ExtractSQL(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ExtractSQL(%q)\n got: %q\nwant: %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExtractSQLKeepsTheOutputForLogs(t *testing.T) {
	_, err := ExtractSQL(`{"sql": null, "error": "No table holds weather data."}`)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeRefused {
		t.Fatalf("err = %v; want %s", err, CodeRefused)
	}
	if e.Message == "" || e.Err == nil {
		t.Errorf("want a message and the raw output as the cause; got %q, %v", e.Message, e.Err)
	}
}

func TestExtractSQLTooLong(t *testing.T) {
	_, err := ExtractSQL("SELECT 1 " + strings.Repeat("x", maxOutputBytes))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadOutput {
		t.Fatalf("err = %v; want %s", err, CodeBadOutput)
	}
}

// TestExtractSQLLinearish guards against the quadratic blow-ups the
// heuristics are prone to (each was seconds to minutes before the fix).
func TestExtractSQLLinearish(t *testing.T) {
	inputs := map[string]string{
		"prose lines that start like SQL": strings.Repeat("Select the rows from the table.\n", 8000),
		"colons":                          strings.Repeat("a: b: c: d: select x from y.\n", 8000),
		"think pairs":                     strings.Repeat("<think></think>", 17000),
		"statements on one line":          strings.Repeat("SELECT 1; ", 25000),
		"unterminated fences":             strings.Repeat("```sql\n", 35000),
		"elements":                        strings.Repeat("<sql>x</sql>", 20000),
	}
	if testing.Short() {
		t.Skip("slow under -race")
	}
	for name, in := range inputs {
		in = in[:min(len(in), 128<<10)]
		start := time.Now()
		ExtractSQL(in)
		t.Logf("%s: %s", name, time.Since(start))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: %s for %d bytes", name, d, len(in))
		}
	}
}

func TestCutTrailingRespectsLiterals(t *testing.T) {
	for _, in := range []string{
		"SELECT E'it\\'s; fine' AS a;",
		"SELECT \"weird;name\" FROM t;",
		"SELECT $tag$ ; $tag$;",
		"SELECT 1 /* a; /* nested; */ b; */;",
		"SELECT $1::int;",
	} {
		if got := cutTrailing(in + "\n\nThis is prose; really."); got != in {
			t.Errorf("cutTrailing(%q + prose) = %q", in, got)
		}
	}
}

func FuzzExtractSQL(f *testing.F) {
	for _, s := range []string{"SELECT 1", "```sql\nSELECT 1\n```", `{"sql":"SELECT 1"}`, "<think>x</think>SELECT 1; Hi.",
		"```", "~~~~", "<code>", "'", "$$", "/*", "{", "SELECT 'a''b';\n\nx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sql, err := ExtractSQL(s)
		if err == nil && strings.TrimSpace(sql) == "" {
			t.Fatalf("ExtractSQL(%q) returned empty SQL without an error", s)
		}
		var e *Error
		if err != nil && (!errors.As(err, &e) || (e.Code != CodeBadOutput && e.Code != CodeRefused)) {
			t.Fatalf("ExtractSQL(%q) error %v is not a bad_output/refused *Error", s, err)
		}
	})
}
