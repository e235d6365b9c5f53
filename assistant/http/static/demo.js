// The demo CRM screen: selecting a deal tells Neptune which record the user is looking at.
(function () {
  "use strict";

  function select(row) {
    document.querySelectorAll(".deals tbody tr").forEach(function (other) {
      other.setAttribute("aria-selected", String(other === row));
    });
    if (window.Neptune) {
      window.Neptune.setContext({
        page: "crm/deals/" + row.dataset.recordId,
        record_type: "deal",
        record_id: row.dataset.recordId,
        selection: row.dataset.deal,
      });
    }
  }

  document.querySelectorAll(".deals tbody tr").forEach(function (row) {
    row.addEventListener("click", function () { select(row); });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        select(row);
      }
    });
  });
})();
