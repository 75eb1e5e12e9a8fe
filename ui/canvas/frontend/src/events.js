// The component's one way to talk to Python: one trigger value named "event" per gesture.
// Every event carries the mount's client id and a sequence number, so Python applies each (client, seq) once.
// `next` numbers an event without sending it (the optimistic queue, useGestures.js, sends it in its turn);
// `transmit` sends one (again, for a resend: the same (client, seq) is applied at most once). Both ride on `send`
// too (send.next, send.transmit), the one function the mount hands to the canvas.

export function makeSender() {
  const client = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  let seq = 0;
  let setTriggerValue = null;
  const sender = {
    bind(fn) {
      setTriggerValue = fn; // the latest mount call's setter
    },
    next(kind, fields = {}) {
      seq += 1;
      return { client, seq, kind, ...fields };
    },
    transmit(event) {
      if (setTriggerValue) setTriggerValue("event", event);
      return event;
    },
    send(kind, fields = {}) {
      return sender.transmit(sender.next(kind, fields));
    },
  };
  sender.send.next = sender.next;
  sender.send.transmit = sender.transmit;
  return sender;
}
