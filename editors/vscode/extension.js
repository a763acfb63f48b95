// Starts `netspec lsp` for .net files. Diagnostics, the shapes shown after each line,
// hovers, definitions, fixes and completion all come from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const [command, ...args] = vscode.workspace.getConfiguration("netspec").get("server");
  client = new LanguageClient("netspec", "netspec", { command, args }, { documentSelector: [{ language: "netspec" }] });
  return client.start();
}

function deactivate() {
  return client && client.stop();
}

module.exports = { activate, deactivate };
