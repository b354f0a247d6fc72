// Renders every template in manifest.json over every conversation in conversations.json with Hugging Face's
// @huggingface/jinja and writes expected.json: what Tandem's Jinja interpreter must produce byte for byte.
// Run: npm install && node render-reference.mjs   (or: node render-reference.mjs --check, which only compares)
// The clock is fixed (2025-01-15 12:00 UTC) so templates that print today's date render the same every time.
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const FIXED_NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const RealDate = Date;
globalThis.Date = class extends RealDate {
	constructor(...args) {
		super(...(args.length ? args : [FIXED_NOW]));
	}
	static now() {
		return FIXED_NOW;
	}
};
process.env.TZ = "UTC";

const here = new URL(".", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("manifest.json", here), "utf8"));
const conversations = JSON.parse(readFileSync(new URL("conversations.json", here), "utf8"));

// The variables Tandem passes (JinjaChatTemplate): messages with role, content (null kept), name, tool_call_id,
// tool_calls whose arguments are parsed JSON; tools or null; documents null; add_generation_prompt; bos/eos; kwargs.
function messagesOf(conversation) {
	return conversation.messages.map((m) => {
		const out = { role: m.role, content: m.content ?? null };
		if (m.name !== undefined) out.name = m.name;
		if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
		if (m.tool_calls !== undefined && m.tool_calls.length > 0) {
			out.tool_calls = m.tool_calls.map((c) => {
				let args;
				try {
					args = JSON.parse(c.function.arguments);
				} catch {
					args = c.function.arguments;
				}
				return { id: c.id, type: "function", function: { name: c.function.name, arguments: args } };
			});
		}
		return out;
	});
}

const expected = {};
for (const entry of manifest) {
	const source = readFileSync(new URL(`templates/${entry.template}`, here), "utf8");
	const results = (expected[entry.template] = {});
	let template;
	try {
		template = new Template(source);
	} catch (e) {
		for (const name of Object.keys(conversations)) results[name] = { error: `parse: ${e.message}` };
		continue;
	}
	for (const [name, conversation] of Object.entries(conversations)) {
		const variables = {
			...(conversation.chat_template_kwargs ?? {}),
			messages: messagesOf(conversation),
			tools: conversation.tools ?? null,
			documents: null,
			add_generation_prompt: conversation.add_generation_prompt,
			bos_token: entry.bos,
			eos_token: entry.eos,
		};
		try {
			results[name] = { output: template.render(variables) };
		} catch (e) {
			results[name] = { error: e.message };
		}
	}
}

const text = JSON.stringify(expected, null, 2) + "\n";
const target = new URL("expected.json", here);
if (process.argv.includes("--check")) {
	const old = readFileSync(target, "utf8");
	if (old !== text) {
		console.error("expected.json differs from a fresh render");
		process.exit(1);
	}
	console.log("expected.json matches @huggingface/jinja");
} else {
	writeFileSync(target, text);
	console.log(`wrote ${target.pathname}`);
}
