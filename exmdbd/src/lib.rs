//! exmdbd
