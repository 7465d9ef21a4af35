// list — see templates/base.html. Loaded after app.js (defer, in order); uses window.Mail.
