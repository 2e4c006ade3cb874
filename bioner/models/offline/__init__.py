"""models/offline"""
