// The live-chat widget (the page /chat, usually in an iframe on the customer's site).
// It talks JSON over a WebSocket to /chat/ws (the protocol is described in
// crates/ui/src/chat.rs), keeps the chat's token so that a reload resumes the chat, and
// reconnects with backoff when the connection drops. Text is always inserted as text.
(function () {
  'use strict';

  var TOKEN_KEY = 'rapport.chat.token';
  var VISITOR_KEY = 'rapport.chat.visitor';

  // Storage can be refused in a third-party frame: then the chat lasts as long as the page.
  var memory = {};
  var store = {
    get: function (key) {
      try { return window.localStorage.getItem(key); } catch (e) { return memory[key] || null; }
    },
    set: function (key, value) {
      try { window.localStorage.setItem(key, value); } catch (e) { memory[key] = value; }
    },
    remove: function (key) {
      try { window.localStorage.removeItem(key); } catch (e) { delete memory[key]; }
    }
  };

  function $(id) { return document.getElementById(id); }

  var ui = {
    connection: $('chat-connection'),
    error: $('chat-error'),
    start: $('chat-start'),
    name: $('chat-name'),
    email: $('chat-email'),
    first: $('chat-first'),
    log: $('chat-log'),
    compose: $('chat-compose'),
    text: $('chat-text'),
    end: $('chat-end'),
    ended: $('chat-ended'),
    transcript: $('chat-transcript'),
    transcriptEmail: $('chat-transcript-email'),
    transcriptDone: $('chat-transcript-done'),
    verify: $('chat-verify'),
    code: $('chat-code'),
    codeAgain: $('chat-code-again'),
    verified: $('chat-verified'),
    restart: $('chat-new')
  };
  if (!ui.log) { return; }

  var socket = null;
  var connected = false;
  var retryDelay = 1000;
  var shown = {};          // message ids on screen
  var pending = {};        // ref -> the <li> waiting for its acknowledgement
  var nextRef = 1;
  var hasEmail = false;
  var verifyNeeded = false; // an address was given and not confirmed yet
  var chatStarted = false;
  var firstText = null;    // the first message, sent once the server accepted the hello

  function showError(text) {
    ui.error.textContent = text;
    ui.error.hidden = !text;
  }

  function setConnection(text) { ui.connection.textContent = text; }

  function mode(which) {
    ui.start.hidden = which !== 'start';
    ui.log.hidden = which === 'start';
    ui.compose.hidden = which !== 'chat';
    ui.ended.hidden = which !== 'ended';
    ui.verify.hidden = !(which === 'chat' && verifyNeeded);
    if (which === 'ended') {
      ui.transcript.hidden = false;
      ui.transcriptDone.hidden = true;
      ui.transcriptEmail.required = !hasEmail;
    }
  }

  function addLine(message, li) {
    if (message.id && shown[message.id]) { return; }
    if (message.id) { shown[message.id] = true; }
    li = li || document.createElement('li');
    li.className = 'from-' + (message.from === 'agent' ? 'agent' : 'customer');
    li.textContent = '';
    var who = document.createElement('span');
    who.className = 'who';
    who.textContent = message.name || '';
    if (message.at) {
      var time = document.createElement('time');
      time.dateTime = message.at;
      var at = new Date(message.at);
      time.textContent = ' · ' + at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      who.appendChild(time);
    }
    li.appendChild(who);
    li.appendChild(document.createTextNode(message.text || ''));
    if (!li.parentNode) { ui.log.appendChild(li); }
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError('Not connected. Your message was not sent; we are reconnecting.');
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  function sendMessage(text) {
    var ref = 'm' + (nextRef++);
    if (!send({ type: 'message', text: text, ref: ref })) { return false; }
    var li = document.createElement('li');
    li.className = 'from-customer pending';
    li.textContent = text;
    ui.log.appendChild(li);
    pending[ref] = { li: li, text: text };
    return true;
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'ready':
        if (firstText !== null) {
          ui.log.hidden = false;
          sendMessage(firstText);
          firstText = null;
        }
        break;
      case 'started':
        chatStarted = true;
        store.set(TOKEN_KEY, frame.token);
        if (frame.visitor) { store.set(VISITOR_KEY, frame.visitor); }
        hasEmail = !!ui.email.value.trim();
        verifyNeeded = hasEmail && !frame.email_verified && !!frame.email_code_sent;
        ui.first.value = '';
        mode('chat');
        ui.text.focus();
        break;
      case 'ack':
        var waiting = pending[frame.ref];
        delete pending[frame.ref];
        addLine(frame.message, waiting && waiting.li);
        showError('');
        break;
      case 'state':
        chatStarted = true;
        hasEmail = !!frame.has_email;
        verifyNeeded = hasEmail && !frame.email_verified;
        (frame.messages || []).forEach(function (m) { addLine(m); });
        mode(frame.ended ? 'ended' : 'chat');
        break;
      case 'message':
        addLine(frame.message);
        break;
      case 'ended':
        mode('ended');
        break;
      case 'verified':
        verifyNeeded = false;
        ui.verify.hidden = true;
        ui.verified.hidden = false;
        ui.code.value = '';
        showError('');
        break;
      case 'code_sent':
        showError('');
        setConnection('We sent a new code.');
        ui.code.focus();
        break;
      case 'transcript_queued':
        ui.transcript.hidden = true;
        ui.transcriptDone.hidden = false;
        break;
      case 'error':
        firstText = null;
        if (frame.ref && pending[frame.ref]) {
          // Not saved: give the text back to edit and send again.
          var failed = pending[frame.ref];
          delete pending[frame.ref];
          if (failed.li.parentNode) { failed.li.parentNode.removeChild(failed.li); }
          if (chatStarted) { ui.text.value = failed.text; } else { ui.first.value = failed.text; }
        }
        if (frame.code === 'not_found') {
          store.remove(TOKEN_KEY);
          chatStarted = false;
          mode('start');
        } else if (frame.code === 'ended') {
          mode('ended');
        }
        showError(frame.message || 'Something went wrong.');
        break;
    }
  }

  function connect() {
    var scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(scheme + '//' + window.location.host + '/chat/ws');
    socket.addEventListener('open', function () {
      connected = true;
      retryDelay = 1000;
      setConnection('Connected.');
      var token = store.get(TOKEN_KEY);
      if (token) {
        send({ type: 'resume', token: token });
      } else if (!chatStarted) {
        mode('start');
      }
    });
    socket.addEventListener('message', function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
    });
    socket.addEventListener('close', function (event) {
      connected = false;
      // Whatever waited for an acknowledgement was not confirmed: offer it again.
      Object.keys(pending).forEach(function (ref) {
        var failed = pending[ref];
        if (failed.li.parentNode) { failed.li.parentNode.removeChild(failed.li); }
        if (chatStarted) { ui.text.value = failed.text; }
        delete pending[ref];
      });
      setConnection(event.code === 1009
        ? 'That message was too long. Reconnecting…'
        : event.code === 1013
          ? 'Too many chats are open from your network. Trying again shortly…'
          : 'Connection lost. Reconnecting…');
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  ui.start.addEventListener('submit', function (event) {
    event.preventDefault();
    showError('');
    var text = ui.first.value;
    if (!text.trim()) { return; }
    var hello = { type: 'hello', name: ui.name.value, email: ui.email.value };
    var visitor = store.get(VISITOR_KEY);
    if (visitor) { hello.visitor = visitor; }
    if (send(hello)) { firstText = text; }
  });

  ui.compose.addEventListener('submit', function (event) {
    event.preventDefault();
    showError('');
    var text = ui.text.value;
    if (!text.trim()) { return; }
    if (sendMessage(text)) { ui.text.value = ''; }
  });

  // Enter sends, Shift+Enter starts a new line.
  ui.text.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.compose.requestSubmit();
    }
  });

  ui.end.addEventListener('click', function () { send({ type: 'end' }); });

  ui.verify.addEventListener('submit', function (event) {
    event.preventDefault();
    if (ui.code.value.trim()) { send({ type: 'verify', code: ui.code.value.trim() }); }
  });

  ui.codeAgain.addEventListener('click', function () { send({ type: 'send_code' }); });

  ui.transcript.addEventListener('submit', function (event) {
    event.preventDefault();
    showError('');
    var frame = { type: 'transcript' };
    if (ui.transcriptEmail.value.trim()) { frame.email = ui.transcriptEmail.value; }
    send(frame);
  });

  ui.restart.addEventListener('click', function () {
    store.remove(TOKEN_KEY);
    chatStarted = false;
    shown = {};
    ui.log.textContent = '';
    showError('');
    mode('start');
    // A fresh socket, so that the old chat is not followed any more.
    if (socket) { socket.close(); }
  });

  if (!window.WebSocket) {
    setConnection('This browser cannot chat. Please use the contact form.');
    return;
  }
  connect();
})();
