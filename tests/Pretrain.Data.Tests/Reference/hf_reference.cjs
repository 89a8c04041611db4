// Hugging Face reference for the tokenizer tests: one node process encodes every text with the Rust tokenizers
// (npm `tokenizers`) and renders chat templates with npm `@huggingface/jinja`, then writes ids as JSON.
// Usage: node hf_reference.cjs NODE_MODULES_DIR REQUEST.json RESPONSE.json
// REQUEST: { texts: [string], tokenizers: [{ name, file }],
//            chats: [{ name, file, config, turns: [{ prompt, response }], extra: { ... } }] }
// RESPONSE: { encodings: { name: { ids: [[int]], decoded: [string] } },
//             chats: { name: [{ prompt: [int], full: [int] }] } }
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, requestFile, responseFile] = process.argv.slice(2);
const { Tokenizer } = require(path.join(modules, 'tokenizers'));

async function main() {
  const request = JSON.parse(fs.readFileSync(requestFile, 'utf8'));
  const response = { encodings: {}, chats: {} };
  const loaded = new Map();
  const load = (file) => {
    if (!loaded.has(file)) loaded.set(file, Tokenizer.fromFile(file));
    return loaded.get(file);
  };
  const encode = async (tok, texts) =>
    (await tok.encodeBatch(texts, { addSpecialTokens: false })).map((e) => Array.from(e.getIds()));

  for (const t of request.tokenizers || []) {
    const tok = load(t.file);
    const ids = await encode(tok, request.texts);
    const decoded = await tok.decodeBatch(ids, false);
    response.encodings[t.name] = { ids, decoded };
  }

  if ((request.chats || []).length > 0) {
    const { Template } = require(path.join(modules, '@huggingface', 'jinja'));
    for (const c of request.chats) {
      const config = JSON.parse(fs.readFileSync(c.config, 'utf8'));
      const template = new Template(c.template ?? config.chat_template);
      const specials = {};
      for (const key of ['bos_token', 'eos_token']) {
        const v = config[key];
        specials[key] = v && typeof v === 'object' ? v.content : v;
      }
      const render = (messages, addGenerationPrompt) =>
        template.render({ messages, add_generation_prompt: addGenerationPrompt, ...specials, ...(c.extra || {}) });
      const prompts = [], fulls = [];
      for (const turn of c.turns) {
        const user = { role: 'user', content: turn.prompt };
        prompts.push(render([user], true));
        fulls.push(render([user, { role: 'assistant', content: turn.response }], false));
      }
      const tok = load(c.file);
      const p = await encode(tok, prompts), f = await encode(tok, fulls);
      response.chats[c.name] = p.map((ids, i) => ({ prompt: ids, full: f[i], promptText: prompts[i], fullText: fulls[i] }));
    }
  }

  fs.writeFileSync(responseFile, JSON.stringify(response));
}

main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
