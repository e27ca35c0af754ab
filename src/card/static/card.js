// The card page: copy the invite link; subscribe this browser to Web Push through our
// service worker (scope /card/) and tell our server, then say that it worked.
(function () {
  var card = document.querySelector(".loyalty-card");
  var copy = document.getElementById("copy-invite");
  if (copy) {
    copy.addEventListener("click", function () {
      var input = document.getElementById(copy.getAttribute("data-copy"));
      input.select();
      var done = function () { copy.textContent = "Ссылка скопирована"; };
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      else { document.execCommand("copy"); done(); }
    });
  }
  var button = document.getElementById("push-button");
  var status = document.getElementById("push-status");
  if (!button || !card) return;
  var say = function (text) { status.textContent = text; };
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    say("Этот браузер не умеет получать уведомления.");
    return;
  }
  var slug = card.getAttribute("data-slug");
  var token = card.getAttribute("data-token");
  var subscriptionsUrl = "/web/v1/" + encodeURIComponent(slug) + "/cards/" + encodeURIComponent(token) + "/push-subscriptions";
  var keyToBytes = function (b64) {
    var s = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  };
  var registration = navigator.serviceWorker.register("/card/sw.js", { scope: "/card/" });
  registration.then(function (reg) {
    return reg.pushManager.getSubscription();
  }).then(function (existing) {
    button.hidden = false;
    if (existing && Notification.permission === "granted") {
      button.textContent = "Уведомления включены";
      button.disabled = true;
    }
  }, function () {
    say("Уведомления сейчас недоступны.");
  });
  button.addEventListener("click", function () {
    button.disabled = true;
    say("Подключаем уведомления…");
    Promise.all([registration, fetch("/web/v1/push/public-key").then(function (r) {
      if (!r.ok) throw new Error("key");
      return r.json();
    })]).then(function (got) {
      return got[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyToBytes(got[1].publicKey) });
    }).then(function (sub) {
      return fetch(subscriptionsUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(sub.toJSON()) });
    }).then(function (r) {
      if (!r.ok) throw new Error("server " + r.status);
      button.textContent = "Уведомления включены";
      say("Готово: сообщения о баллах будут приходить на это устройство.");
    }).catch(function () {
      button.disabled = false;
      say(Notification.permission === "denied"
        ? "Уведомления запрещены в настройках браузера для этого сайта."
        : "Не получилось включить уведомления. Попробуйте ещё раз позже.");
    });
  });
})();
