//! Event fan-out (the hub): publish an event to every matching
//! subscription's bounded mailbox. (Being built: see issue 3.)
