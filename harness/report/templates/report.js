"use strict";
(function () {
  var D = JSON.parse(document.getElementById("case-data").textContent);
  var S = D.s;
  var onlyBad = document.getElementById("only-bad");
  var BAD = { fail: 1, error: 1, xpass: 1 };
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function str(i) { return i ? S[i] : ""; }
  function err(a, r) {
    var parts = [];
    if (a !== undefined && a !== null) parts.push("abs " + a);
    if (r !== undefined && r !== null) parts.push("rel " + r);
    return parts.join(", ");
  }
  function tol(used, min) {
    return str(used) + (min ? (used ? "; " : "") + "min to pass: " + str(min) : "");
  }
  var HEAD = ["run", "case", "dtype", "inputs", "attrs", "check", "outcome", "reason / error", "max error",
              "tolerance", "offload", "timings", "reproducer"];
  function fill(details) {
    var host = details.querySelector(".cases-host");
    host.textContent = "";
    var cases = D.ops[Number(details.dataset.row)] || [];
    if (!cases.length) { host.appendChild(el("p", "No cases recorded.")); return; }
    var table = el("table", null, "cases"), tr = el("tr");
    HEAD.forEach(function (h) { tr.appendChild(el("th", h)); });
    table.appendChild(tr);
    var bad = onlyBad.checked, shown = 0;
    cases.forEach(function (c) {
      var checks = c[5].filter(function (k) { return !bad || BAD[D.outcomes[k[1]]]; });
      checks.forEach(function (k, j) {
        var outcome = D.outcomes[k[1]];
        var row = el("tr");
        if (j === 0) {
          [D.runs[c[0]], str(c[1]), str(c[2]), str(c[3]), str(c[4])].forEach(function (v, i) {
            var td = el("td", v, i === 1 ? "id" : i >= 3 ? "mono" : "");
            td.rowSpan = checks.length;
            row.appendChild(td);
          });
        }
        var why = str(k[2]) + (k[3] ? " [" + str(k[3]) + "]" : "");
        [D.checks[k[0]], outcome, why, err(k[4], k[5]), tol(k[6], k[7]), str(k[9]), str(k[10]), str(k[8])]
          .forEach(function (v, i) {
            row.appendChild(el("td", v, i === 1 ? "o " + outcome : i === 7 ? "mono" : i === 4 ? "tol" : ""));
          });
        table.appendChild(row);
        shown++;
      });
    });
    host.appendChild(el("p", shown + " check(s) shown"));
    host.appendChild(table);
  }
  function refill(d) { fill(d); d.dataset.filled = String(onlyBad.checked); }
  document.querySelectorAll("details.op").forEach(function (d) {
    d.addEventListener("toggle", function () {
      if (d.open && d.dataset.filled !== String(onlyBad.checked)) refill(d);
    });
  });
  onlyBad.addEventListener("change", function () {
    document.querySelectorAll("details.op[open]").forEach(refill);
  });
  function openOp(row) {
    var d = document.getElementById("op-" + row);
    if (!d) return;
    d.open = true;
    d.scrollIntoView();
  }
  document.getElementById("matrix").addEventListener("click", function (ev) {
    var td = ev.target.closest("td.c");
    if (td) openOp(td.dataset.row);
  });
  document.querySelectorAll("a.to-op").forEach(function (a) {
    a.addEventListener("click", function (ev) { ev.preventDefault(); openOp(a.dataset.row); });
  });
  if (/^#op-\d+$/.test(location.hash)) openOp(location.hash.slice(4));
})();
