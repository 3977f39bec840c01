// case-triage console: the only script besides htmx (the Content Security Policy forbids
// inline scripts). Keyboard of the review queue: j/k move, 1-9 (0 for the tenth) pick a
// category for the current row, Enter confirms the current row's category.
(function () {
  "use strict";

  function rows(table) {
    return Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
  }

  function current(table) {
    return table.querySelector("tbody tr.current");
  }

  function select(table, row) {
    var old = current(table);
    if (old) { old.classList.remove("current"); }
    if (row) {
      row.classList.add("current");
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(table, step) {
    var all = rows(table);
    if (!all.length) { return; }
    var index = all.indexOf(current(table));
    var next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), all.length - 1);
    select(table, all[next]);
  }

  function typing(event) {
    var tag = event.target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    var table = document.querySelector("table[data-keyboard=review]");
    if (!table || typing(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "j") { move(table, 1); event.preventDefault(); return; }
    if (event.key === "k") { move(table, -1); event.preventDefault(); return; }
    var row = current(table);
    if (!row) { return; }
    var form = row.querySelector("form.decide");
    if (/^[0-9]$/.test(event.key)) {
      var choice = form.querySelector("select[name=category]");
      var index = event.key === "0" ? 9 : Number(event.key) - 1;
      if (index < choice.options.length) { choice.selectedIndex = index; }
      event.preventDefault();
    } else if (event.key === "Enter") {
      var id = row.id;
      form.requestSubmit();
      event.preventDefault();
      // keep the place: after htmx swaps the row in, the next row becomes current
      document.body.addEventListener("htmx:afterSwap", function after() {
        document.body.removeEventListener("htmx:afterSwap", after);
        var swapped = document.getElementById(id);
        if (swapped) { select(table, swapped.nextElementSibling || swapped); }
      });
    }
  });

  // clicking a row makes it the current one
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("table[data-keyboard=review] tbody tr");
    if (row && !typing(event)) {
      select(row.closest("table"), row);
    }
  });
})();
