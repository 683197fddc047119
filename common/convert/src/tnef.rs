//! TNEF decoder ([MS-OXTNEF]).
