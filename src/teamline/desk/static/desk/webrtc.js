/*
 * Teamline desk: the media of browser calls (WebRTC), the agent's side.
 *
 * The call panel (calls.js) decides with the server and then tells this script what happened
 * with a "teamline:call" event {action, call}; only audio and video calls concern it. After
 * "accepted" this side takes the microphone (and camera), makes the offer and sends it, with its
 * ICE candidates, as `call.signal` frames over the desk socket (desk.js sends what it is given
 * in "teamline:desk-send"); the customer's widget answers. When the browsers are connected it
 * tells the server (POST /desk/calls/<id>/connected), which starts the call's timer.
 *
 * The media go where the panel puts them ("teamline:call-media" {call_id, local, remote}); if
 * the panel placed nothing in #call-media-<id>, this script adds the elements itself.
 *
 * `window.teamlineCall` is a debugging handle on the latest call ({id, pc, local, remote}),
 * e.g. for pc.getStats() in the browser's console or a test.
 */
(() => {
  "use strict";
  // The desk's strings in the agent's language (Django's JavaScript catalog, /desk/jsi18n/).
  const _ = (text) => (window.gettext ? window.gettext(text) : text);

  const me = Number(document.body.dataset.userId || 0);
  if (!me) return;

  const BROWSER_MEDIA = new Set(["audio", "video"]);
  const calls = new Map(); // call id → {id, medium, pc, local, remote, held, muted, ...}

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (_err) {
      return "";
    }
  }

  function say(text) {
    const region = document.getElementById("call-announcer") ||
      document.getElementById("desk-announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 60);
  }

  function signal(call, kind, payload) {
    document.dispatchEvent(new CustomEvent("teamline:desk-send", {
      detail: { type: "call.signal", call_id: call.id, kind, payload },
    }));
  }

  function applyTracks(call) {
    if (!call.local) return;
    for (const track of call.local.getAudioTracks()) track.enabled = !call.muted && !call.held;
    for (const track of call.local.getVideoTracks()) track.enabled = !call.held;
    // On hold the agent does not hear the customer either.
    const box = document.getElementById(`call-media-${call.id}`);
    if (box) for (const el of box.querySelectorAll("[data-remote]")) el.muted = call.held;
  }

  function mediaElement(tag, stream, label, remote) {
    const el = document.createElement(tag);
    el.autoplay = true;
    el.playsInline = true;
    el.srcObject = stream;
    el.setAttribute("aria-label", label);
    if (remote) el.dataset.remote = "1";
    else el.muted = true; // never hear yourself
    return el;
  }

  // The panel may re-render its container: put the media back whenever it is empty.
  function ensureMedia(call) {
    if (calls.get(call.id) !== call || !call.local) return;
    let box = document.getElementById(`call-media-${call.id}`);
    if (box && box.querySelector("video, audio")) return;
    if (!box) {
      box = document.createElement("div");
      box.id = `call-media-${call.id}`;
      box.className = "call-media";
      (document.getElementById("call-panel") || document.body).append(box);
    }
    const video = call.medium === "video";
    // An audio call may still carry the customer's shared screen: a video element shows it.
    box.append(mediaElement("video", call.remote, _("Customer"), true));
    if (video) box.append(mediaElement("video", call.local, _("You"), false));
    applyTracks(call);
  }

  async function markConnected(call) {
    try {
      await fetch(`/desk/calls/${call.id}/connected`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
    } catch (_err) {
      say(_("Teamline could not be told that the call is connected."));
    }
  }

  async function start(data) {
    if (calls.has(data.id)) return;
    const call = {
      id: data.id, medium: data.medium, pc: null, local: null, remote: new MediaStream(),
      pendingIce: [], connected: false, held: data.state === "held", muted: Boolean(data.muted),
      // A call already connected before this page: the server needs no second "connected".
      resumed: data.state === "active" || data.state === "held",
    };
    calls.set(call.id, call);
    try {
      const response = await fetch(`/desk/calls/${call.id}/ice/`, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error("ice servers");
      const config = await response.json();
      const local = await navigator.mediaDevices.getUserMedia({
        audio: true, video: call.medium === "video",
      });
      if (calls.get(call.id) !== call) { // ended meanwhile
        for (const track of local.getTracks()) track.stop();
        return;
      }
      call.local = local;
      const pc = new RTCPeerConnection({ iceServers: config.ice_servers || [] });
      call.pc = pc;
      for (const track of local.getTracks()) pc.addTrack(track, local);
      // The customer may share their screen in an audio call too: keep a video line to receive it.
      if (call.medium === "audio") pc.addTransceiver("video", { direction: "recvonly" });
      pc.addEventListener("track", (event) => {
        if (!call.remote.getTracks().includes(event.track)) call.remote.addTrack(event.track);
      });
      pc.addEventListener("icecandidate", (event) => {
        signal(call, "ice", event.candidate ? event.candidate.toJSON() : null);
      });
      pc.addEventListener("iceconnectionstatechange", () => {
        const state = pc.iceConnectionState;
        if ((state === "connected" || state === "completed") && !call.connected) {
          call.connected = true;
          if (!call.resumed) markConnected(call);
        } else if (state === "failed") {
          say(_("The call's connection to the customer failed."));
        }
      });
      window.teamlineCall = { id: call.id, pc, local, remote: call.remote };
      document.dispatchEvent(new CustomEvent("teamline:call-media", {
        detail: { call_id: call.id, local, remote: call.remote },
      }));
      ensureMedia(call);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      signal(call, "offer", { type: "offer", sdp: pc.localDescription.sdp });
    } catch (error) {
      say(call.medium === "video"
        ? _("Your camera or microphone could not be used for the call. Allow them, or end the call.")
        : _("Your microphone could not be used for the call. Allow it, or end the call."));
    }
  }

  function stop(id) {
    const call = calls.get(id);
    if (!call) return;
    calls.delete(id);
    if (call.local) for (const track of call.local.getTracks()) track.stop();
    if (call.pc) call.pc.close();
    const box = document.getElementById(`call-media-${id}`);
    if (box) for (const el of box.querySelectorAll("video, audio")) el.srcObject = null;
  }

  async function onSignal(data) {
    const call = calls.get(data.call_id);
    if (!call || !call.pc) return;
    const pc = call.pc;
    try {
      if (data.kind === "answer" && data.payload) {
        await pc.setRemoteDescription(data.payload);
        const queued = call.pendingIce.splice(0);
        for (const candidate of queued) await pc.addIceCandidate(candidate);
      } else if (data.kind === "ice" && data.payload) {
        if (pc.remoteDescription) await pc.addIceCandidate(data.payload);
        else call.pendingIce.push(data.payload);
      } else if (data.kind === "bye") {
        stop(call.id); // the customer hung up; the panel hears it from call.updated
      }
    } catch (_err) {
      say(_("The call could not be connected to the customer's browser."));
    }
  }

  document.addEventListener("teamline:call", (event) => {
    const detail = event.detail || {};
    const data = detail.call;
    if (!data || !BROWSER_MEDIA.has(data.medium)) return;
    const call = calls.get(data.id);
    switch (detail.action) {
      case "accepted":
        start(data);
        break;
      case "held":
      case "resumed":
        if (call) { call.held = detail.action === "held"; applyTracks(call); }
        break;
      case "muted":
      case "unmuted":
        if (call) { call.muted = detail.action === "muted"; applyTracks(call); }
        break;
      case "ended":
        if (call && call.pc) signal(call, "bye", null);
        stop(data.id);
        break;
      default:
        break;
    }
  });

  document.addEventListener("teamline:desk-event", (event) => {
    const { type, data } = event.detail || {};
    if (type === "call.signal" && data) {
      onSignal(data);
    } else if (type === "call.updated" && data && calls.has(data.id)) {
      // Ended by the customer or the server, or no longer ours (released): let go of the media.
      if (data.state === "ended" || data.agent_id !== me) stop(data.id);
      else window.setTimeout(() => ensureMedia(calls.get(data.id) || {}), 300);
    }
  });

  // The agent's media live in one page: a page opened during a call (the conversation, from
  // the panel's link) takes the call's media up again with a new offer.
  async function resume() {
    try {
      const response = await fetch("/desk/calls/media/", {
        credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
      });
      if (!response.ok) return;
      const data = await response.json();
      for (const call of data.calls || []) {
        if (BROWSER_MEDIA.has(call.medium)) start(call);
      }
    } catch (_err) {
      // Offline for a moment: the agent can still end the call from the panel.
    }
  }

  document.addEventListener("teamline:desk-error", (event) => {
    const frame = event.detail || {};
    if (calls.has(Number(frame.call_id))) say(frame.detail || _("The call's signalling failed."));
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", resume, { once: true });
  } else {
    resume();
  }
})();
