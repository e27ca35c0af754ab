// The card's service worker: shows the points messages our server pushes
// ({"title", "body", "tag"}) and opens the card when one is tapped.
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data ? event.data.text() : "" }; }
  event.waitUntil(self.registration.showNotification(data.title || "Баллы", { body: data.body || "", tag: data.tag || "points" }));
});
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (list) {
    for (var i = 0; i < list.length; i++) if ("focus" in list[i]) return list[i].focus();
    return self.registration.scope ? self.clients.openWindow(self.registration.scope) : undefined;
  }));
});
